package command

import "syscall"

// procAttr puts the command in a process group of its own, so that it is
// killed with all it started (a Python script's own ffmpeg, its workers),
// and makes the kernel kill it when the service dies, however it dies: an
// orphaned model would hold the GPU its successor needs. Pdeathsig reaches
// the command itself only (its children are killed with the group when
// the service stops it, not when the service dies). Pdeathsig fires when
// the thread that started the command exits; Go keeps its threads for the
// life of the process unless a goroutine locked to one exits, which
// nothing here does.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
