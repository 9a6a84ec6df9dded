package main

import "syscall"

// sysProcAttr: posd gets SIGKILL when the supervisor dies, so a killed
// supervisor never leaves a posd running outside its control.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
