//go:build !linux

package gpu

import "syscall"

// procAttr: elsewhere than Linux no parent-death signal exists; a query
// outlives a killed service until it ends by itself (its deadline is the
// service's to enforce, and dies with it).
func procAttr() *syscall.SysProcAttr { return nil }
