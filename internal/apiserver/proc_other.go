//go:build !linux

package apiserver

import "syscall"

// dieWithParent has no portable equivalent off Linux: Stop in TestMain is
// the only cleanup there.
func dieWithParent(*syscall.SysProcAttr) {}
