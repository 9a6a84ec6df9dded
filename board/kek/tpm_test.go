package kek

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// tpmSource is the TPM source of dataDir on sw, with the fallback file
// allowed: where a test expects no fallback, it checks that no file
// appeared.
func tpmSource(dataDir string, sw *swtpm) *TPM {
	return &TPM{
		Device:     "swtpm",
		SealedPath: filepath.Join(dataDir, SealedName),
		File:       &File{Path: filepath.Join(dataDir, FileName)},
		Fallback:   true,
		Open:       sw.open,
	}
}

func mustKEK(t *testing.T, s Source) []byte {
	t.Helper()
	k, err := s.KEK(context.Background())
	if err != nil {
		t.Fatalf("KEK: %v", err)
	}
	if len(k) != Size {
		t.Fatalf("KEK of %d bytes", len(k))
	}
	return k
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func assertNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		t.Errorf("%s was created", path)
	}
}

func TestTPMSealUnsealRoundTrip(t *testing.T) {
	sw := startSwtpm(t, t.TempDir())
	dir := t.TempDir()
	src := tpmSource(dir, sw)

	k1 := mustKEK(t, src)
	if bytes.Equal(k1, make([]byte, Size)) {
		t.Fatal("KEK is all zero")
	}
	sealedPath := filepath.Join(dir, SealedName)
	fi, err := os.Stat(sealedPath)
	if err != nil {
		t.Fatalf("no sealed KEK file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("sealed KEK file mode %v, want 0600", fi.Mode().Perm())
	}
	assertNoFile(t, filepath.Join(dir, FileName))
	sealed := readFile(t, sealedPath)
	if bytes.Contains(sealed, k1) {
		t.Fatal("the sealed KEK file holds the KEK in clear")
	}
	if _, err := parseBlob(sealed); err != nil {
		t.Fatalf("sealed KEK file: %v", err)
	}

	// The second call unseals the same key and leaves the file alone.
	k2 := mustKEK(t, src)
	if !bytes.Equal(k1, k2) {
		t.Fatal("second KEK differs from the first")
	}
	if !bytes.Equal(sealed, readFile(t, sealedPath)) {
		t.Fatal("the sealed KEK file changed on unseal")
	}
	// The caller owns the slice: clearing it does not touch the next one.
	clear(k2)
	if k3 := mustKEK(t, src); !bytes.Equal(k1, k3) {
		t.Fatal("KEK changed after the caller cleared its copy")
	}

	// Another data directory on the same TPM gets another KEK.
	if k4 := mustKEK(t, tpmSource(t.TempDir(), sw)); bytes.Equal(k1, k4) {
		t.Fatal("two data directories got the same KEK")
	}
}

// TestTPMSameKEKAfterRestart: a new swtpm process on the same TPM state
// and a new source (nothing kept in memory) unseal the same KEK.
func TestTPMSameKEKAfterRestart(t *testing.T) {
	state, dir := t.TempDir(), t.TempDir()
	sw1 := startSwtpm(t, state)
	k1 := mustKEK(t, tpmSource(dir, sw1))
	sealed := readFile(t, filepath.Join(dir, SealedName))
	sw1.stop()

	sw2 := startSwtpm(t, state)
	if sw2.cmdAddr == sw1.cmdAddr {
		t.Log("the restarted swtpm reuses the port (free again)")
	}
	k2 := mustKEK(t, tpmSource(dir, sw2))
	if !bytes.Equal(k1, k2) {
		t.Fatal("KEK differs after the TPM restarted")
	}
	if !bytes.Equal(sealed, readFile(t, filepath.Join(dir, SealedName))) {
		t.Fatal("the sealed KEK file changed")
	}
}

// TestTPMRefusesBlobFromAnotherTPM: a sealed KEK copied to a device with
// another TPM is refused with ErrTPMMismatch, and nothing new is made.
// With the recorded storage key name forged to the other TPM's, the TPM
// itself refuses to load the object (ErrSealedBlob).
func TestTPMRefusesBlobFromAnotherTPM(t *testing.T) {
	swA := startSwtpm(t, t.TempDir())
	swB := startSwtpm(t, t.TempDir())
	dirA, dirB := t.TempDir(), t.TempDir()
	mustKEK(t, tpmSource(dirA, swA))
	fromA := readFile(t, filepath.Join(dirA, SealedName))

	writeFile(t, filepath.Join(dirB, SealedName), fromA)
	_, err := tpmSource(dirB, swB).KEK(context.Background())
	if !errors.Is(err, ErrTPMMismatch) {
		t.Fatalf("blob of TPM A on TPM B: %v, want ErrTPMMismatch", err)
	}
	if !strings.Contains(err.Error(), "orphan") {
		t.Errorf("error does not say why no new KEK is made: %v", err)
	}
	assertNoFile(t, filepath.Join(dirB, FileName))
	if !bytes.Equal(fromA, readFile(t, filepath.Join(dirB, SealedName))) {
		t.Fatal("the foreign sealed KEK file was replaced")
	}

	// Forge the name: B's storage key name with A's object.
	dirB2 := t.TempDir()
	mustKEK(t, tpmSource(dirB2, swB))
	ownB, err := parseBlob(readFile(t, filepath.Join(dirB2, SealedName)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := parseBlob(fromA)
	if err != nil {
		t.Fatal(err)
	}
	a.srkName = ownB.srkName
	forged, err := a.marshal()
	if err != nil {
		t.Fatal(err)
	}
	dirB3 := t.TempDir()
	writeFile(t, filepath.Join(dirB3, SealedName), forged)
	_, err = tpmSource(dirB3, swB).KEK(context.Background())
	if !errors.Is(err, ErrSealedBlob) {
		t.Fatalf("A's object under B's name on TPM B: %v, want ErrSealedBlob", err)
	}
	assertNoFile(t, filepath.Join(dirB3, FileName))
}

// TestTPMRefusesTamperedBlob alters the sealed KEK file in several ways;
// each is refused with a typed error, and the file is never replaced.
func TestTPMRefusesTamperedBlob(t *testing.T) {
	sw := startSwtpm(t, t.TempDir())
	dir := t.TempDir()
	want := mustKEK(t, tpmSource(dir, sw))
	good := readFile(t, filepath.Join(dir, SealedName))
	b, err := parseBlob(good)
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	mustKEK(t, tpmSource(other, sw))
	ob, err := parseBlob(readFile(t, filepath.Join(other, SealedName)))
	if err != nil {
		t.Fatal(err)
	}

	flip := func(part func(*blob) []byte, i int) []byte {
		c := blob{srkName: bytes.Clone(b.srkName), public: bytes.Clone(b.public), private: bytes.Clone(b.private)}
		p := part(&c)
		p[i%len(p)] ^= 0x01
		out, err := c.marshal()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	pub := func(c *blob) []byte { return c.public }
	priv := func(c *blob) []byte { return c.private }
	name := func(c *blob) []byte { return c.srkName }
	swapped := func(public, private []byte) []byte {
		out, err := blob{srkName: b.srkName, public: public, private: private}.marshal()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"private first byte", flip(priv, 0), ErrSealedBlob},
		{"private middle", flip(priv, len(b.private)/2), ErrSealedBlob},
		{"private last byte", flip(priv, len(b.private)-1), ErrSealedBlob},
		{"public attributes", flip(pub, 7), ErrSealedBlob},
		{"public last byte", flip(pub, len(b.public)-1), ErrSealedBlob},
		{"storage key name", flip(name, len(b.srkName)-1), ErrTPMMismatch},
		{"other object's public", swapped(ob.public, b.private), ErrSealedBlob},
		{"other object's private", swapped(b.public, ob.private), ErrSealedBlob},
		{"truncated", good[:len(good)-1], ErrSealedBlob},
		{"trailing byte", append(bytes.Clone(good), 0), ErrSealedBlob},
		{"bad magic", append([]byte("XOSDKEK1"), good[8:]...), ErrSealedBlob},
		{"empty", []byte{}, ErrSealedBlob},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			p := filepath.Join(d, SealedName)
			writeFile(t, p, c.data)
			k, err := tpmSource(d, sw).KEK(context.Background())
			if !errors.Is(err, c.want) {
				t.Fatalf("got key %v, err %v; want %v", k != nil, err, c.want)
			}
			if !bytes.Equal(c.data, readFile(t, p)) {
				t.Error("the altered file was replaced")
			}
			assertNoFile(t, filepath.Join(d, FileName))
		})
	}
	// The untouched file still unseals: the TPM state is fine.
	if got := mustKEK(t, tpmSource(dir, sw)); !bytes.Equal(got, want) {
		t.Fatal("the good sealed KEK no longer unseals to the KEK")
	}
}

// TestTPMPresentButRefusingNeverFallsBack: a TPM whose owner hierarchy
// has a password refuses to make the storage key; the source reports
// ErrTPM and writes no fallback file though the profile allows one.
func TestTPMPresentButRefusingNeverFallsBack(t *testing.T) {
	sw := startSwtpm(t, t.TempDir())
	tp, err := sw.open(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpm2.HierarchyChangeAuth{
		AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		NewAuth:    tpm2.TPM2BAuth{Buffer: []byte("owner-password")},
	}.Execute(tp)
	tp.Close()
	if err != nil {
		t.Fatalf("setting an owner password: %v", err)
	}
	var logs bytes.Buffer
	dir := t.TempDir()
	src := tpmSource(dir, sw)
	src.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	_, err = src.KEK(context.Background())
	if !errors.Is(err, ErrTPM) || !errors.Is(err, tpm2.TPMRCBadAuth) {
		t.Fatalf("got %v, want ErrTPM (bad auth)", err)
	}
	assertNoFile(t, filepath.Join(dir, FileName))
	assertNoFile(t, filepath.Join(dir, SealedName))
	if strings.Contains(logs.String(), "fallback") {
		t.Errorf("logged a fallback: %s", logs.String())
	}
}

// TestTPMContextEnds: a cancelled context ends the work without a key or
// a file.
func TestTPMContextEnds(t *testing.T) {
	sw := startSwtpm(t, t.TempDir())
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	src := tpmSource(dir, sw)
	src.Open = func(ctx context.Context, dev string) (transport.TPMCloser, error) {
		tp, err := sw.open(ctx, dev)
		cancel() // the context ends once the TPM is open
		return tp, err
	}
	_, err := src.KEK(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	assertNoFile(t, filepath.Join(dir, SealedName))
	assertNoFile(t, filepath.Join(dir, FileName))
}
