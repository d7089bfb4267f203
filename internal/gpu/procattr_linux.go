package gpu

import "syscall"

// procAttr makes the kernel kill nvidia-smi when the service dies, however
// it dies: a query stuck in the driver must not outlive the worker that
// asked. Pdeathsig fires when the thread that started the run exits; Go
// keeps its threads for the life of the process unless a goroutine locked
// to one exits, which nothing here does.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
