package ota

import (
	"bytes"
	"context"
	"testing"

	"posd/cmd/tms-sim/repo"
)

// TestShortTarget: the repository serves a target shorter than its
// signed length, whole and cleanly ended (a file cut short on the TMS, an
// upload that did not finish). That is not the target: it is refused
// (ErrHash, a security event for the operator to look at), not retried at
// every poll as an unreachable repository, and nothing of it is kept.
func TestShortTarget(t *testing.T) {
	e := newEnv(t, repo.Opts{})
	img := bytes.Repeat([]byte("0123456789abcdef"), 4<<10)
	e.add("firmware/posd-2.img", img, KindFirmware, 2)
	e.publish()
	c := e.client("T1")
	fw := find(t, mustCheck(t, c), "firmware/posd-2.img")
	e.repo.Tamper(e.targetPath(fw.Name), img[:len(img)/2])
	got, err := c.Fetch(context.Background(), fw)
	refused(t, got, err, ErrHash, fw.Name)
	noTargetFiles(t, c.o.Dir)
}
