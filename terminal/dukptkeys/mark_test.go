package dukptkeys

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"posd/crypto/dukpt"
	"posd/internal/testhex"
	"posd/terminal/wiresec"
)

type modeCase struct {
	mode      wiresec.Mode
	bdk, iksn string
	other     string // another initial KSN (new device id)
}

var modes = []modeCase{
	{wiresec.ModeTDES, "0123456789ABCDEFFEDCBA9876543210", "FFFF9876543210E00000", "FFFF9876543211E00000"},
	{wiresec.ModeAES, "FEDCBA9876543210F1F1F1F1F1F1F1F1", "123456789012345600000000", "123456789012345700000000"},
}

func counter(t *testing.T, ksn []byte) uint32 {
	t.Helper()
	c, err := dukpt.KSNCounter(ksn)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newMarked(mem memSecrets, mode wiresec.Mode, mark Mark) *Source {
	s := New(mem, mode, "dukpt.0", func(err error) bool { return errors.Is(err, errNoSecret) })
	s.SetMark(mark)
	return s
}

// next returns the counter of the next KSN.
func next(t *testing.T, s *Source) uint32 {
	t.Helper()
	sess, err := s.Next()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Wipe()
	return counter(t, sess.KSN())
}

func TestMarkCoversEveryKSNBeforeUse(t *testing.T) {
	for _, m := range modes {
		t.Run(string(m.mode), func(t *testing.T) {
			mark := &FileMark{Path: filepath.Join(t.TempDir(), "mark.json")}
			src := newMarked(memSecrets{}, m.mode, mark)
			if err := src.LoadFromBDK(testhex.Must(m.bdk), testhex.Must(m.iksn)); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3*Reserve; i++ {
				c := next(t, src)
				used, err := mark.Load("dukpt.0")
				if err != nil || len(used) != 1 {
					t.Fatalf("mark %v %v", used, err)
				}
				for _, hw := range used {
					if hw < c {
						t.Fatalf("KSN counter %d in use, mark only %d", c, hw)
					}
				}
			}
			fi, err := os.Stat(mark.Path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("mark file %v %v", fi, err)
			}
		})
	}
}

func TestLostStateRefusesToReuseKSNs(t *testing.T) {
	for _, m := range modes {
		t.Run(string(m.mode), func(t *testing.T) {
			mark := &FileMark{Path: filepath.Join(t.TempDir(), "mark.json")}
			src := newMarked(memSecrets{}, m.mode, mark)
			if err := src.LoadFromBDK(testhex.Must(m.bdk), testhex.Must(m.iksn)); err != nil {
				t.Fatal(err)
			}
			next(t, src)
			// The database (and the state in it) is lost.
			lost := newMarked(memSecrets{}, m.mode, mark)
			if err := lost.Check(); !errors.Is(err, ErrStateLost) {
				t.Fatalf("Check without state: %v", err)
			}
			if _, err := lost.Next(); !errors.Is(err, ErrStateLost) {
				t.Fatalf("Next without state: %v", err)
			}
			if _, err := lost.KSN(); !errors.Is(err, ErrStateLost) {
				t.Fatalf("KSN without state: %v", err)
			}
			if err := lost.LoadFromBDK(testhex.Must(m.bdk), testhex.Must(m.iksn)); !errors.Is(err, ErrKSNReuse) {
				t.Fatalf("reloading the same initial KSN: %v", err)
			}
			// A new initial key with a new KSN is fine.
			if err := lost.LoadFromBDK(testhex.Must(m.bdk), testhex.Must(m.other)); err != nil {
				t.Fatal(err)
			}
			if c := next(t, lost); c == 0 {
				t.Fatal("counter 0 after load")
			}
		})
	}
}

func TestStateBehindTheMarkSkipsForward(t *testing.T) {
	for _, m := range modes {
		t.Run(string(m.mode), func(t *testing.T) {
			mark := &FileMark{Path: filepath.Join(t.TempDir(), "mark.json")}
			mem := memSecrets{}
			src := newMarked(mem, m.mode, mark)
			if err := src.LoadFromBDK(testhex.Must(m.bdk), testhex.Must(m.iksn)); err != nil {
				t.Fatal(err)
			}
			next(t, src)
			backup := memSecrets{}
			for k, v := range mem {
				backup[k] = append([]byte(nil), v...)
			}
			var last uint32
			for i := 0; i < 2*Reserve+3; i++ {
				last = next(t, src)
			}
			// Restart on the older backup of the database.
			restored := newMarked(backup, m.mode, mark)
			if err := restored.Check(); err != nil {
				t.Fatal(err)
			}
			if c := next(t, restored); c <= last {
				t.Fatalf("KSN counter %d reused (last used %d)", c, last)
			}
			// Without Check, Next reconciles by itself.
			restored2 := newMarked(backup, m.mode, mark)
			if c := next(t, restored2); c <= last {
				t.Fatalf("Next without Check: counter %d reused (last used %d)", c, last)
			}
		})
	}
}

func TestParkAvoidsSkippingAfterCleanStop(t *testing.T) {
	m := modes[1] // AES: every counter value is valid
	mark := &FileMark{Path: filepath.Join(t.TempDir(), "mark.json")}
	mem := memSecrets{}
	src := newMarked(mem, m.mode, mark)
	if err := src.LoadFromBDK(testhex.Must(m.bdk), testhex.Must(m.iksn)); err != nil {
		t.Fatal(err)
	}
	last := next(t, src)
	if err := src.Park(); err != nil {
		t.Fatal(err)
	}
	again := newMarked(mem, m.mode, mark)
	if err := again.Check(); err != nil {
		t.Fatal(err)
	}
	if c := next(t, again); c != last+1 {
		t.Fatalf("after a clean stop: counter %d, want %d", c, last+1)
	}
	// After a crash (no Park) the reservation is skipped, never reused.
	crashed := newMarked(mem, m.mode, mark)
	if c := next(t, crashed); c <= last+1 {
		t.Fatalf("after a crash: counter %d", c)
	}
	// Park of a state that was never reconciled leaves the mark alone.
	used, _ := mark.Load("dukpt.0")
	stale := newMarked(memSecrets{}, m.mode, mark)
	stale.Park()
	if after, _ := mark.Load("dukpt.0"); len(after) != len(used) {
		t.Fatal("Park changed the mark")
	}
}

func TestDamagedMarkRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mark.json")
	os.WriteFile(p, []byte("{junk"), 0o600)
	src := newMarked(memSecrets{}, wiresec.ModeAES, &FileMark{Path: p})
	if err := src.LoadFromBDK(testhex.Must(modes[1].bdk), testhex.Must(modes[1].iksn)); !errors.Is(err, ErrMark) {
		t.Fatalf("load with a damaged mark: %v", err)
	}
}
