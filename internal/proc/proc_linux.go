package proc

import "syscall"

// dieWithParent makes the kernel kill the child when the test binary exits,
// so a test run that never reaches Stop (a panic, a timeout, ^C) leaves no
// etcd or kube-apiserver behind.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
