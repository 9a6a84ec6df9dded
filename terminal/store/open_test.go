package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// filled creates a database with enough records to use several pages and
// returns its path.
func filled(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "posd.db")
	d := open(t, path)
	for i := 0; i < 200; i++ {
		x := Txn{Kind: "purchase", Amount: int64(i + 1), Currency: "156", MaskedPAN: "476173******0010"}
		if err := d.Create(&x); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestOpenRefusesDamagedFiles(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"empty", func(t *testing.T, p string) { os.Truncate(p, 0) }},
		{"truncated into used pages", func(t *testing.T, p string) { os.Truncate(p, 20<<10) }},
		{"one page", func(t *testing.T, p string) { os.Truncate(p, 4096) }},
		{"junk in a page header", func(t *testing.T, p string) { junkLeafHeader(t, p, 0) }},
		{"junk in a leaf's elements", func(t *testing.T, p string) { junkLeafHeader(t, p, 16) }},
		{"junk in both meta pages", func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			for i := 16; i < 80; i++ {
				b[i], b[4096+i] = 0xEE, 0xEE
			}
			os.WriteFile(p, b, 0o600)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filled(t)
			c.damage(t, path)
			before := sum(t, path)
			d, err := Open(path, nil)
			if err == nil {
				d.Close()
				t.Fatal("opened a damaged database")
			}
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error is not ErrDamaged: %v", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "Restore") {
				t.Errorf("message: %v", err)
			}
			if sum(t, path) != before {
				t.Error("Open changed the damaged file")
			}
		})
	}
}

// junkLeafHeader overwrites 8 bytes at off within the first leaf page after
// page 2 (off 0: id; 8: flags, count, overflow; 16: the elements).
func junkLeafHeader(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for p := 3 * 4096; p+4096 <= len(b); p += 4096 {
		if binary.LittleEndian.Uint16(b[p+8:]) == 0x02 {
			at := p + 8
			if off > 0 {
				at = p + off
			}
			copy(b[at:at+8], []byte{0xA5, 0x5A, 0xFF, 0xFF, 0x13, 0x37, 0xFF, 0x7F})
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("no leaf page")
}

func TestOpenMarker(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "posd.db")
	d := open(t, path)
	id := d.Instance()
	d.Close()
	if len(id) != 32 {
		t.Fatalf("instance %q", id)
	}
	raw, err := os.ReadFile(path + MarkerSuffix)
	if err != nil || !strings.Contains(string(raw), id) {
		t.Fatalf("marker: %s %v", raw, err)
	}
	fi, _ := os.Stat(path + MarkerSuffix)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("marker mode %v", fi.Mode())
	}
	// Reopening keeps the identity.
	d = open(t, path)
	if d.Instance() != id {
		t.Fatalf("instance changed: %s", d.Instance())
	}
	d.Close()

	// The database vanished: refused, nothing created.
	os.Rename(path, path+".moved")
	if _, err := Open(path, nil); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), MarkerSuffix) {
		t.Fatalf("missing database: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("Open created a database in place of the missing one")
	}
	// Another data directory's database: refused.
	other := filepath.Join(t.TempDir(), "posd.db")
	open(t, other).Close()
	raw, _ = os.ReadFile(other)
	os.WriteFile(path, raw, 0o600)
	if _, err := Open(path, nil); !errors.Is(err, ErrForeign) {
		t.Fatalf("foreign database: %v", err)
	}
	// Its own database back: fine.
	os.Rename(path+".moved", path)
	open(t, path).Close()

	// The engineer's documented way to start empty: remove the marker.
	os.Remove(path)
	os.Remove(path + MarkerSuffix)
	d = open(t, path)
	if d.Instance() == id {
		t.Fatal("a new database kept the old identity")
	}
	d.Close()
}

func TestOpenWritesMarkerForOlderDatabases(t *testing.T) {
	path := filled(t)
	os.Remove(path + MarkerSuffix)
	d := open(t, path)
	defer d.Close()
	if _, err := os.Stat(path + MarkerSuffix); err != nil {
		t.Fatalf("no marker written for an existing database: %v", err)
	}
}

// TestFirstOpenSurvivesKill kills, with SIGKILL at random points, a
// process that creates databases in fresh data directories one after the
// other, and then opens each of them: a terminal whose very first start
// was cut short (power lost on the production line) must start the next
// time, not find a half-made posd.db and refuse it as damaged.
func TestFirstOpenSurvivesKill(t *testing.T) {
	if dir := os.Getenv("STORE_FIRST_OPEN_CHILD"); dir != "" {
		for i := 0; ; i++ {
			sub := filepath.Join(dir, strconv.Itoa(i))
			if err := os.Mkdir(sub, 0o700); err != nil {
				os.Exit(3)
			}
			d, err := Open(filepath.Join(sub, "posd.db"), nil)
			if err != nil {
				os.Exit(4)
			}
			d.Close()
		}
	}
	if testing.Short() {
		t.Skip("kill test")
	}
	rounds := 40
	if v := os.Getenv("POSD_STORE_FIRST_OPEN_KILLS"); v != "" {
		rounds, _ = strconv.Atoi(v)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, 7))
	dirs := 0
	for round := 0; round < rounds; round++ {
		dir := filepath.Join(t.TempDir(), "r")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestFirstOpenSurvivesKill$")
		cmd.Env = append(os.Environ(), "STORE_FIRST_OPEN_CHILD="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+rng.IntN(60)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		subs, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			if !s.IsDir() {
				continue
			}
			dirs++
			d, err := Open(filepath.Join(dir, s.Name(), "posd.db"), nil)
			if err != nil {
				t.Fatalf("round %d, data dir %s after the kill: %v", round, s.Name(), err)
			}
			if _, err := d.NextSTAN(); err != nil {
				t.Fatalf("round %d, data dir %s: %v", round, s.Name(), err)
			}
			d.Close()
		}
	}
	t.Logf("%d kills, %d data dirs opened again", rounds, dirs)
}

// posd.db holds the key store (wrapped keys) and sealed card data; a
// copy restored from a backup by hand gets the umask's mode, readable by
// every local user. Open makes it and its marker the owner's alone.
func TestOpenTightensTheFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	open(t, path).Close()
	for _, p := range []string{path, path + MarkerSuffix} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logged bytes.Buffer
	d, err := Open(path, &Opts{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	// The engineer learns of it: someone restored or copied the file.
	for _, p := range []string{path, path + MarkerSuffix} {
		if !strings.Contains(logged.String(), "file="+p+" mode=-rw-r--r-- now=-rw-------") {
			t.Errorf("no warning for %s in the log:\n%s", p, logged.String())
		}
	}
	for _, p := range []string{path, path + MarkerSuffix} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %v after Open, want 0600", filepath.Base(p), m)
		}
	}
}
