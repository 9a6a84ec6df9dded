//go:build linux

package ota

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"posd/cmd/tms-sim/repo"
)

// smallDisk mounts a tmpfs of size bytes for the test: a data partition
// that fills up. It needs root (CAP_SYS_ADMIN); the test is skipped
// without.
func smallDisk(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)+",mode=0700"); err != nil {
		t.Skipf("cannot mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

func freeSpace(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// TestFetchOnASmallDisk: a target that fits the disk once, but not twice,
// is fetched: the download is not copied a second time once verified.
func TestFetchOnASmallDisk(t *testing.T) {
	disk := smallDisk(t, 1<<20)
	e := newEnv(t, repo.Opts{})
	img := bytes.Repeat([]byte("posd firmware "), (600<<10)/14)
	e.add("firmware/posd-2.img", img, KindFirmware, 2)
	e.publish()
	c := e.client("T1", func(o *Opts) { o.Dir = disk; o.MinFree = 64 << 10 })
	fw := find(t, mustCheck(t, c), "firmware/posd-2.img")
	got, err := c.Fetch(context.Background(), fw)
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("fetch on a disk with room for it: %d bytes, %v", len(got), err)
	}
	before := len(e.requests("T1", "/targets/"))
	if got, err := c.Fetch(context.Background(), fw); err != nil || !bytes.Equal(got, img) {
		t.Fatalf("second fetch: %d bytes, %v", len(got), err)
	}
	if after := len(e.requests("T1", "/targets/")); after != before {
		t.Fatalf("the second fetch downloaded again (%d → %d requests)", before, after)
	}
}

// TestFetchDiskFull: a target the disk has no room for is not downloaded
// (ErrNoSpace: the rest of the terminal, its transaction database
// included, keeps its room); a disk filled by something else during a
// download gets back what the download took.
func TestFetchDiskFull(t *testing.T) {
	t.Run("no room from the start", func(t *testing.T) {
		disk := smallDisk(t, 1<<20)
		e := newEnv(t, repo.Opts{})
		e.add("firmware/posd-2.img", make([]byte, 2<<20), KindFirmware, 2)
		e.publish()
		c := e.client("T1", func(o *Opts) { o.Dir = disk; o.MinFree = 64 << 10 })
		fw := find(t, mustCheck(t, c), "firmware/posd-2.img")
		free := freeSpace(t, disk)
		got, err := c.Fetch(context.Background(), fw)
		if got != nil || !errors.Is(err, ErrNoSpace) || Refused(err) {
			t.Fatalf("fetch of a target larger than the disk: %d bytes, %v", len(got), err)
		}
		t.Logf("no room: %v", err)
		if qs := e.requests("T1", "/targets/"); len(qs) != 0 {
			t.Fatalf("downloaded %+v", qs)
		}
		if now := freeSpace(t, disk); now < free {
			t.Fatalf("free space %d → %d", free, now)
		}
	})
	t.Run("filled during the download", func(t *testing.T) {
		disk := smallDisk(t, 1<<20)
		e := newEnv(t, repo.Opts{})
		img := make([]byte, 600<<10)
		e.add("firmware/posd-2.img", img, KindFirmware, 2)
		e.publish()
		c := e.client("T1", func(o *Opts) { o.Dir = disk; o.MinFree = 64 << 10 })
		fw := find(t, mustCheck(t, c), "firmware/posd-2.img")
		filler := filepath.Join(disk, "filler")
		filled := make(chan struct{})
		var once sync.Once
		e.repo.Override(e.targetPath(fw.Name), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(img)))
			w.Write(img[:100<<10])
			w.(http.Flusher).Flush()
			// Something else takes the rest of the disk meanwhile.
			os.WriteFile(filler, make([]byte, 1<<20), 0o600)
			once.Do(func() { close(filled) })
			w.Write(img[100<<10:])
		}))
		got, err := c.Fetch(context.Background(), fw)
		if got != nil || !errors.Is(err, ErrNoSpace) || Refused(err) {
			t.Fatalf("fetch on a disk that filled up: %d bytes, %v", len(got), err)
		}
		t.Logf("filled: %v", err)
		noTargetFiles(t, disk)
		// The filler's blocks come back once it is written and closed (the
		// download may fail while it is being written).
		<-filled
		os.Remove(filler)
		e.repo.Restore(e.targetPath(fw.Name))
		if got, err := c.Fetch(context.Background(), fw); err != nil || !bytes.Equal(got, img) {
			t.Fatalf("fetch once there is room again: %d bytes, %v", len(got), err)
		}
	})
}

// TestFetchSmallTargetOnAFullDisk: the room kept free is for large
// downloads; a parameter bundle (a hotlist, a risk rule: what keeps a
// terminal safe) still comes in when it fits.
func TestFetchSmallTargetOnAFullDisk(t *testing.T) {
	disk := smallDisk(t, 1<<20)
	e := newEnv(t, repo.Opts{})
	e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
	e.publish()
	c := e.client("T1", func(o *Opts) { o.Dir = disk; o.MinFree = 4 << 20 })
	p := find(t, mustCheck(t, c), "params/emv-2.json")
	got, err := c.Fetch(context.Background(), p)
	if err != nil || !bytes.Equal(got, bundleJSON(2)) {
		t.Fatalf("a bundle on a disk with less than MinFree free: %d bytes, %v", len(got), err)
	}
}

// TestCheckDiskFull: a check whose new metadata does not fit on a full
// disk is ErrNoSpace, as a download is, not an error of the store that
// says nothing to the caller; once there is room the check goes through.
func TestCheckDiskFull(t *testing.T) {
	disk := smallDisk(t, 1<<20)
	e := newEnv(t, repo.Opts{})
	e.publish()
	c := e.client("T1", func(o *Opts) { o.Dir = disk })
	mustCheck(t, c)
	filler := filepath.Join(disk, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 4<<10)); err != nil {
			break
		}
	}
	f.Close()
	e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
	e.publish()
	ts, err := c.Check(context.Background())
	if ts != nil || !errors.Is(err, ErrNoSpace) || Refused(err) || Transient(err) {
		t.Fatalf("check on a full disk: %v, %v", ts, err)
	}
	t.Logf("full: %v", err)
	os.Remove(filler)
	if ts := mustCheck(t, c); len(ts) != 1 {
		t.Fatalf("check once there is room: %v", ts)
	}
}
