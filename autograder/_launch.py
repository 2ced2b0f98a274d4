"""Exec wrapper that puts one student process (kernel or post-grade check) in its sandbox.

Run as `python _launch.py SPEC.json -- CMD...` (a plain script: no package imports, so it
starts fast). Steps, each only when SPEC asks and the OS allows (see autograder/sandbox.py):
new user/network/IPC/mount namespaces (unshare(2)), fresh size-capped tmpfs over /tmp-like and unreachable
directories keeping only what the sandbox needs, read-only empty tmpfs over hidden paths,
resource limits (setrlimit(2)), handing files to the sandbox uid, dropping to that uid with no
supplementary groups and PR_SET_NO_NEW_PRIVS, then execve(2) with the scrubbed environment.
Exit status 97 means the sandbox could not be set up (the message goes to stderr).
"""
import ctypes
import ctypes.util
import json
import os
import resource
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWIPC = 0x00020000, 0x10000000, 0x40000000, 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 4096, 8192, 16384, 1 << 18)
PR_SET_NO_NEW_PRIVS = 38


def fail(msg):
    sys.stderr.write(f"autograder sandbox: {msg}\n")
    sys.stderr.flush()
    os._exit(97)


def mount(libc, src, dst, fstype, flags, opts=None):
    if libc.mount(src.encode(), dst.encode(), fstype and fstype.encode(), flags,
                  opts and opts.encode()) != 0:
        fail(f"mount {src} on {dst} failed: {os.strerror(ctypes.get_errno())}")


def cover(libc, covers, stage):
    """Replace directories with fresh tmpfs mounts that hold only the paths given for them.

    Used for ancestors the sandbox uid cannot enter (a Python under a 0700 /root: mode 755)
    and for private temporary directories (/tmp, /dev/shm: mode 1777). For each: mount a tmpfs
    on a staging point, bind the paths to keep into it at their own relative places, then move
    the whole tmpfs over the directory (MS_MOVE): everything else there is out of sight.
    """
    import tempfile
    for ancestor, mode, keep, *size in covers:
        if not os.path.isdir(ancestor):
            continue
        point = tempfile.mkdtemp(prefix="c", dir=stage)
        opts = f"mode={mode}" + (f",size={int(size[0])}m" if size else "")
        mount(libc, "tmpfs", point, "tmpfs", MS_NOSUID | MS_NODEV, opts)
        for path in keep:
            inner = os.path.join(point, os.path.relpath(path, ancestor))
            os.makedirs(inner, exist_ok=True)
            parent = os.path.dirname(inner)
            while parent != point:
                os.chmod(parent, 0o755)
                parent = os.path.dirname(parent)
            mount(libc, path, inner, None, MS_BIND | MS_REC)
        mount(libc, point, ancestor, None, MS_MOVE)


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        fail("usage: _launch.py SPEC.json -- CMD...")
    with open(argv[1]) as f:
        spec = json.load(f)
    cmd = argv[3:]
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    uid, gid = os.getuid(), os.getgid()

    flags = 0
    if spec.get("userns"):
        flags |= CLONE_NEWUSER
    if spec.get("netns"):
        flags |= CLONE_NEWNET
    if spec.get("ipcns"):
        flags |= CLONE_NEWIPC
    if spec.get("hide") or spec.get("cover"):
        flags |= CLONE_NEWNS
    if flags and libc.unshare(flags) != 0:
        fail(f"unshare({flags:#x}) failed: {os.strerror(ctypes.get_errno())}")
    if spec.get("userns"):
        try:
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/uid_map", "w") as f:
                f.write(f"{uid} {uid} 1")
            with open("/proc/self/gid_map", "w") as f:
                f.write(f"{gid} {gid} 1")
        except OSError as exc:
            fail(f"user namespace map failed: {exc}")
    if spec.get("hide") or spec.get("cover"):
        if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            fail(f"making / private failed: {os.strerror(ctypes.get_errno())}")
        cover(libc, spec.get("cover", []), spec["stage"])
        for path in spec.get("hide", []):
            if not os.path.isdir(path):   # already out of sight under a covered directory
                continue
            opts = b"size=4k,mode=000"
            if libc.mount(b"tmpfs", path.encode(), b"tmpfs",
                          MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) != 0:
                fail(f"hiding {path} failed: {os.strerror(ctypes.get_errno())}")

    for name, (soft, hard) in spec.get("rlimits", {}).items():
        res = getattr(resource, name)
        cur_soft, cur_hard = resource.getrlimit(res)
        if cur_hard != resource.RLIM_INFINITY and (hard == -1 or hard > cur_hard):
            hard = cur_hard
        soft = hard if soft == -1 or (hard != -1 and soft > hard) else soft
        try:
            resource.setrlimit(res, (soft, hard))
        except (ValueError, OSError) as exc:
            fail(f"setrlimit {name} failed: {exc}")

    target = spec.get("uid")
    if target is not None:
        tgid = spec.get("gid", target)
        for path in spec.get("chown", []):
            os.chown(path, target, tgid)
        try:
            os.setgroups([])
            os.setgid(tgid)
            os.setuid(target)
        except OSError as exc:
            fail(f"dropping to uid {target} failed: {exc}")
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if spec.get("cwd"):
        os.chdir(spec["cwd"])
    try:
        os.execve(cmd[0], cmd, spec["env"])
    except OSError as exc:
        fail(f"exec {cmd[0]} failed: {exc}")


if __name__ == "__main__":
    main(sys.argv)
