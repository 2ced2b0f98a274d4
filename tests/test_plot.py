"""helpers.plot: every function returns a labelled Figure headless; the GIF has every frame."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib import pyplot as plt
from PIL import Image

from helpers import plot
from helpers.ddpm import q_sample
from helpers.schedules import Schedule


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def images(n, c=1, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, size, size, generator=g) * 2 - 1  # (n, c, size, size) in [-1, 1]


@pytest.mark.parametrize("c", [1, 3])
def test_show_images_grid_and_labels(c):
    fig = plot.show_images(images(10, c), nrow=4, title="ten", labels=list(range(10)))
    assert len(fig.axes) == 12  # 3 rows x 4, the last two blank
    assert [ax.get_title() for ax in fig.axes[:10]] == [str(i) for i in range(10)]
    assert sum(bool(ax.images) for ax in fig.axes) == 10
    assert fig._suptitle.get_text() == "ten"


def test_show_images_maps_value_range_to_unit():
    x = torch.tensor([[[[0.0, 0.5], [1.0, 2.0]]]])  # (1, 1, 2, 2) in [0, 1], one value out of range
    fig = plot.show_images(x, value_range=(0, 1))
    shown = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_allclose(shown, [[0.0, 0.5], [1.0, 1.0]])
    fig = plot.show_images(x)  # default (-1, 1): 0 is mid-grey
    assert np.asarray(fig.axes[0].images[0].get_array())[0, 0] == pytest.approx(0.5)


def test_image_grid_shape():
    grid = plot.image_grid(images(5, 3), nrow=3, pad=2)
    assert grid.shape == (2 * 10 + 2, 3 * 10 + 2, 3) and 0 <= grid.min() and grid.max() <= 1


def test_noising_strip_uses_q_sample():
    sched = Schedule.linear(T=100)
    x0 = images(1, 1, seed=3)[0]  # (1, 8, 8)
    ts = [0, 10, 50, 99]
    fig = plot.noising_strip(x0, sched, ts, seed=7)
    assert len(fig.axes) == 1 + len(ts)
    assert fig.axes[1].get_title().startswith("t=0") and fig.axes[-1].get_title().startswith("t=99")
    noise = torch.randn((1, 1, 8, 8), generator=torch.Generator().manual_seed(7))
    expected = ((q_sample(x0[None], 50, sched, noise)[0, 0].clamp(-1, 1) + 1) / 2).numpy()
    np.testing.assert_allclose(np.asarray(fig.axes[3].images[0].get_array()), expected, atol=1e-6)
    assert len(plot.noising_strip(x0, sched).axes) == 9  # default: 8 steps


def test_plot_schedules_three_labelled_panels():
    scheds = {"linear": Schedule.linear(200), "cosine": Schedule.cosine(200)}
    fig = plot.plot_schedules(scheds)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert len(ax.lines) == 2 and ax.get_xlabel() == "t" and ax.get_legend() is not None
    assert fig.axes[2].get_yscale() == "log"
    snr = fig.axes[2].lines[0].get_ydata()
    np.testing.assert_allclose(snr, scheds["linear"].snr().double().numpy(), rtol=1e-4)


@pytest.mark.parametrize("c", [1, 3])
def test_trajectory_gif_has_every_frame(tmp_path, c):
    frames = [images(6, c, seed=i) for i in range(5)]
    path = plot.trajectory_gif(frames, tmp_path / "sub" / "traj.gif", fps=10, nrow=3)
    assert path.exists()
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 5


def test_show_trajectory_strip():
    frames = [images(4, seed=i) for i in range(20)]
    fig = plot.show_trajectory(frames, n=8, rows=2)
    assert len(fig.axes) == 16
    assert fig.axes[0].get_title() == "frame 0" and fig.axes[7].get_title() == "frame 19"
    assert len(plot.show_trajectory(frames[:3], n=8).axes) == 3


@pytest.mark.parametrize("flat", [False, True])
def test_guidance_grid_rows_are_w_columns_are_classes(flat):
    ws, names = [0.0, 1.0, 3.0], ["daisy", "rose", "tulip", "sunflower"]
    x = images(12, 3)
    x = x if flat else x.reshape(3, 4, 3, 8, 8)
    fig = plot.guidance_grid(x, ws, names)
    assert len(fig.axes) == 12
    assert [fig.axes[c].get_title() for c in range(4)] == names
    assert [fig.axes[4 * r].get_ylabel() for r in range(3)] == ["w = 0", "w = 1", "w = 3"]
    # row 1, column 2 shows image 1 * 4 + 2
    expected = (images(12, 3)[6].permute(1, 2, 0) + 1) / 2
    np.testing.assert_allclose(np.asarray(fig.axes[6].images[0].get_array()), expected.numpy(), atol=1e-6)


def test_confusion_matrix_counts():
    cm = torch.tensor([[5, 1, 0], [0, 7, 2], [1, 0, 9]])
    fig = plot.confusion_matrix_plot(cm, ["a", "b", "c"])
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # heat map + colour bar
    assert [t.get_text() for t in ax.texts] == [str(v) for v in cm.flatten().tolist()]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    fig = plot.confusion_matrix_plot(cm.numpy(), ["a", "b", "c"], normalize=True)
    assert fig.axes[0].texts[0].get_text() == f"{5 / 6:.2f}"
    with pytest.raises(ValueError):
        plot.confusion_matrix_plot(cm, ["a", "b"])


def test_loss_curve_smoothing():
    fig = plot.loss_curve([4.0, 2.0, 2.0, 0.0], smooth=2)
    raw, avg = fig.axes[0].lines
    np.testing.assert_allclose(avg.get_ydata(), [3.0, 2.0, 1.0])


def test_displaying_a_figure_takes_it_out_of_pyplot():
    """Jupyter's inline backend draws open pyplot figures at the end of a cell; a figure that
    was already displayed as the cell's value must not be among them (no double plots)."""
    from IPython.core.formatters import DisplayFormatter

    fig = plot.show_images(images(2))
    assert plt.fignum_exists(fig.number)
    data, _ = DisplayFormatter().format(fig)
    assert "text/plain" in data  # the usual formatters still run
    assert fig not in [plt.figure(n) for n in plt.get_fignums()]


def test_clip_plots_return_figures():
    from matplotlib.figure import Figure

    fig = plot.similarity_heatmap(torch.rand(2, 3), ["a", "b"], col_images=torch.rand(3, 3, 8, 8) * 2 - 1)
    assert isinstance(fig, Figure)
    fig = plot.image_rows(torch.rand(2, 3, 3, 8, 8) * 2 - 1, ["r1", "r2"], labels=[["x"] * 3] * 2)
    assert isinstance(fig, Figure)
