//go:build !linux

package cli

import "syscall"

// bindChild: only Linux signals a child when its parent dies.
func bindChild(attr *syscall.SysProcAttr) (*syscall.SysProcAttr, func()) { return attr, func() {} }
