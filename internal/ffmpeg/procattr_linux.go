package ffmpeg

import "syscall"

// procAttr makes the kernel kill a run when the service dies, however it
// dies (SIGKILL, the OOM killer): an orphaned ffmpeg would go on using a
// CPU and writing into a scratch directory its successor is removing.
// Pdeathsig fires when the thread that started the run exits; Go keeps
// its threads for the life of the process unless a goroutine locked to
// one exits, which nothing here does.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
