package shred

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"posd/crypto/sealbox"
)

func wrapBox(t testing.TB) *sealbox.Box {
	t.Helper()
	b, err := sealbox.New(bytes.Repeat([]byte{9}, sealbox.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openRing(t testing.TB, path string, slots int) *Ring {
	t.Helper()
	r, err := Open(path, wrapBox(t), &Opts{Slots: slots})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func seal(t testing.TB, r *Ring, plain, ad string) []byte {
	t.Helper()
	s, err := r.Seal([]byte(plain), []byte(ad))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func slotBytes(t *testing.T, path string, i int) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b[headerSize+i*SlotSize:][:SlotSize]
}

// A record opens with its ad until it is erased; then its slot is zeros
// on disk and the record (any copy of it) no longer opens.
func TestSealOpenErase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.slots")
	r := openRing(t, path, 4)
	s := seal(t, r, "4761730000000029D3012", "advice 1")
	if bytes.Contains(s, []byte("4761730000000029")) {
		t.Fatal("the record holds the plain text")
	}
	got, err := r.Open(s, []byte("advice 1"))
	if err != nil || string(got) != "4761730000000029D3012" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := r.Open(s, []byte("advice 2")); !errors.Is(err, sealbox.ErrOpen) {
		t.Fatalf("open under another ad: %v", err)
	}
	if bytes.Equal(slotBytes(t, path, 0), make([]byte, SlotSize)) {
		t.Fatal("slot 0 is empty on disk after Seal returned")
	}
	kept := bytes.Clone(s)
	if err := r.Erase(s); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(slotBytes(t, path, 0), make([]byte, SlotSize)) {
		t.Fatalf("slot 0 after Erase: %x", slotBytes(t, path, 0))
	}
	if _, err := r.Open(kept, []byte("advice 1")); !errors.Is(err, ErrErased) {
		t.Fatalf("open after erase: %v", err)
	}
	if r.Used() != 0 {
		t.Fatalf("%d slots used", r.Used())
	}
	// Erasing twice is harmless.
	if err := r.Erase(kept); err != nil {
		t.Fatal(err)
	}
}

// Slots survive a reopen; a record erased before the reopen stays erased.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.slots")
	r := openRing(t, path, 8)
	a := seal(t, r, "first", "a")
	b := seal(t, r, "second", "b")
	if err := r.Erase(a); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r2 := openRing(t, path, 2) // the file's own count wins
	if r2.Slots() != 8 || r2.Used() != 1 {
		t.Fatalf("reopened: %s", r2)
	}
	if got, err := r2.Open(b, []byte("b")); err != nil || string(got) != "second" {
		t.Fatalf("open b: %q %v", got, err)
	}
	if _, err := r2.Open(a, []byte("a")); !errors.Is(err, ErrErased) {
		t.Fatalf("open a: %v", err)
	}
}

// A slot reused by a later record does not open the record it held
// before, even with the old tag forged into the slot's place.
func TestReusedSlotDoesNotOpenOldRecord(t *testing.T) {
	r := openRing(t, filepath.Join(t.TempDir(), "keys.slots"), 1)
	old := seal(t, r, "old card", "x")
	if err := r.Erase(old); err != nil {
		t.Fatal(err)
	}
	cur := seal(t, r, "new card", "x")
	if _, err := r.Open(old, []byte("x")); !errors.Is(err, ErrErased) {
		t.Fatalf("old record: %v", err)
	}
	// Graft the current tag onto the old ciphertext: the key is another.
	forged := append(bytes.Clone(cur[:1+4+tagSize]), old[1+4+tagSize:]...)
	if _, err := r.Open(forged, []byte("x")); !errors.Is(err, sealbox.ErrOpen) {
		t.Fatalf("forged record: %v", err)
	}
	// Erase of the old record leaves the current one alone.
	if err := r.Erase(old); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Open(cur, []byte("x")); err != nil || string(got) != "new card" {
		t.Fatalf("current: %q %v", got, err)
	}
}

func TestFull(t *testing.T) {
	r := openRing(t, filepath.Join(t.TempDir(), "keys.slots"), 2)
	a := seal(t, r, "a", "")
	seal(t, r, "b", "")
	if !r.Full() {
		t.Fatal("not full")
	}
	if _, err := r.Seal([]byte("c"), nil); !errors.Is(err, ErrFull) {
		t.Fatalf("third seal: %v", err)
	}
	if err := r.Erase(a); err != nil {
		t.Fatal(err)
	}
	seal(t, r, "c", "")
}

// Keep erases the slots no live record names (a crash between Seal and
// its commit, or between a delete and its Erase) and leaves the others.
func TestKeep(t *testing.T) {
	r := openRing(t, filepath.Join(t.TempDir(), "keys.slots"), 8)
	live := seal(t, r, "live", "l")
	orphan := seal(t, r, "orphan", "o")
	n, err := r.Keep([][]byte{live, []byte("junk"), nil})
	if err != nil || n != 1 {
		t.Fatalf("Keep: %d %v", n, err)
	}
	if _, err := r.Open(orphan, []byte("o")); !errors.Is(err, ErrErased) {
		t.Fatalf("orphan: %v", err)
	}
	if got, err := r.Open(live, []byte("l")); err != nil || string(got) != "live" {
		t.Fatalf("live: %q %v", got, err)
	}
}

// Records of the earlier format (sealbox under the wrapping key) open.
func TestLegacyRecord(t *testing.T) {
	r := openRing(t, filepath.Join(t.TempDir(), "keys.slots"), 2)
	old, err := wrapBox(t).Seal([]byte("kept by earlier firmware"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Open(old, []byte("ad")); err != nil || string(got) != "kept by earlier firmware" {
		t.Fatalf("legacy: %q %v", got, err)
	}
	if err := r.Erase(old); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedFile(t *testing.T) {
	dir := t.TempDir()
	for name, b := range map[string][]byte{
		"empty":     {},
		"no magic":  bytes.Repeat([]byte{1}, headerSize+SlotSize),
		"short":     append([]byte(magic), 0, 0, 0, 2, 0, 0, 0, 0),
		"bad state": append(append([]byte(magic), 0, 0, 0, 1, 0, 0, 0, 0), append([]byte{7}, make([]byte, SlotSize-1)...)...),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(p, wrapBox(t), nil); !errors.Is(err, ErrFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestWipe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.slots")
	r := openRing(t, path, 2)
	s := seal(t, r, "x", "")
	r.Close()
	if err := Wipe(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after Wipe: %v", err)
	}
	r2 := openRing(t, path, 2)
	if _, err := r2.Open(s, nil); !errors.Is(err, ErrErased) {
		t.Fatalf("record after wipe: %v", err)
	}
	if err := Wipe(filepath.Join(t.TempDir(), "none")); err != nil {
		t.Fatal(err)
	}
}

// Records come back from the database: whatever the bytes, Open and
// Erase answer with an error or a result, never a panic, and never erase
// a slot the bytes do not name with its tag.
func FuzzOpen(f *testing.F) {
	f.Add([]byte{version, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{legacyVersion, 1, 2})
	f.Add([]byte{version, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := openRing(t, filepath.Join(t.TempDir(), "keys.slots"), 2)
		live := seal(t, r, "live", "ad")
		if _, err := r.Open(b, []byte("ad")); err == nil && !bytes.Equal(b, live) {
			t.Fatalf("%x opened", b)
		}
		if err := r.Erase(b); err != nil && !errors.Is(err, ErrRecord) {
			t.Fatalf("erase: %v", err)
		}
		if r.Used() != 1 && !bytes.Equal(b[:min(len(b), 1+4+tagSize)], live[:1+4+tagSize]) {
			t.Fatalf("%x erased the live slot", b)
		}
	})
}

// A factory reset runs as the daemon's user; whoever can write the data
// directory can put a link where the slot file was. Wipe zeroes the slot
// file, never the file a link names.
func TestWipeDoesNotFollowALink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("not the slot file"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keys.slots")
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	err := Wipe(path)
	if got, rerr := os.ReadFile(victim); rerr != nil || string(got) != "not the slot file" {
		t.Fatalf("Wipe through a link changed its target to %q (%v)", got, rerr)
	}
	if !errors.Is(err, ErrFile) {
		t.Fatalf("Wipe of a link: %v, want ErrFile", err)
	}
	if _, err := Open(path, wrapBox(t), nil); !errors.Is(err, ErrFile) {
		t.Fatalf("Open of a link: %v, want ErrFile", err)
	}
}

// A power cut during an erase can leave the slot half written: its state
// byte zero (free) and the wrapped key still on disk. Open finishes the
// erase: no slot marked free holds anything but zeros.
func TestOpenFinishesATornErase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.slots")
	r := openRing(t, path, 4)
	s := seal(t, r, "4761730000000029D3012", "advice 1")
	r.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[headerSize] = stateFree // the first bytes of the erase reached the disk, the rest did not
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r2 := openRing(t, path, 4)
	if got := slotBytes(t, path, 0); !bytes.Equal(got, make([]byte, SlotSize)) {
		t.Fatalf("a free slot keeps its key on disk after Open: % x", got)
	}
	if _, err := r2.Open(s, []byte("advice 1")); !errors.Is(err, ErrErased) {
		t.Fatalf("record of the torn slot: %v", err)
	}
}

// The slot file holds the wrapped record keys: whatever mode a copy came
// with, Open makes it the owner's alone.
func TestOpenTightensTheFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.slots")
	openRing(t, path, 2).Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	openRing(t, path, 2)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("mode %v after Open, want 0600", m)
	}
}

// The slot file comes from the disk: whatever its bytes, Open answers
// with ErrFile or a ring, never a panic; a ring leaves no key bytes in a
// slot it counts as free.
func FuzzSlotFile(f *testing.F) {
	good := append([]byte(magic), 0, 0, 0, 2, 0, 0, 0, 0)
	good = append(good, make([]byte, 2*SlotSize)...)
	f.Add(good)
	torn := bytes.Clone(good)
	torn[headerSize+5] = 0xaa
	f.Add(torn)
	used := bytes.Clone(good)
	used[headerSize+SlotSize] = stateUsed
	f.Add(used)
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "keys.slots")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path, wrapBox(t), nil)
		if err != nil {
			if !errors.Is(err, ErrFile) {
				t.Fatalf("Open: %v", err)
			}
			return
		}
		defer r.Close()
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range r.Slots() {
			s := after[headerSize+i*SlotSize:][:SlotSize]
			if s[0] == stateFree && !bytes.Equal(s, make([]byte, SlotSize)) {
				t.Fatalf("free slot %d keeps % x", i, s)
			}
		}
	})
}
