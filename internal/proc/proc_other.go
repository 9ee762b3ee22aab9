//go:build !linux

package proc

import "syscall"

// dieWithParent has no portable equivalent off Linux: Stop in TestMain is
// the only cleanup there.
func dieWithParent(*syscall.SysProcAttr) {}
