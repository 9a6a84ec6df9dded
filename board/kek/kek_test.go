package kek

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-tpm/tpm2/transport"

	"posd/crypto/keystore"
)

func TestSpecValidate(t *testing.T) {
	for _, s := range []Spec{
		{Source: SourceFile},
		{Source: SourceTPM, Device: "/dev/tpmrm0"},
		{Source: SourceTPM, Device: "/dev/tpmrm0", FallbackFile: true},
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	for _, s := range []Spec{{}, {Source: "tmp"}, {Source: SourceTPM}} {
		if err := s.Validate(); !errors.Is(err, ErrSpec) {
			t.Errorf("%+v: %v, want ErrSpec", s, err)
		}
	}
	if _, err := New(Spec{Source: SourceFile}, Opts{}); !errors.Is(err, ErrSpec) {
		t.Errorf("no data dir: %v, want ErrSpec", err)
	}
}

func TestNewBuildsTheNamedSource(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Spec{Source: SourceFile}, Opts{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := s.(*File); !ok || f.Path != filepath.Join(dir, FileName) {
		t.Fatalf("file spec gave %#v", s)
	}
	s, err = New(Spec{Source: SourceTPM, Device: "/dev/tpmrm0", FallbackFile: true}, Opts{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tp, ok := s.(*TPM)
	if !ok || tp.Device != "/dev/tpmrm0" || !tp.Fallback || tp.SealedPath != filepath.Join(dir, SealedName) ||
		tp.File == nil || tp.File.Path != filepath.Join(dir, FileName) {
		t.Fatalf("tpm spec gave %#v", s)
	}
}

// TestFileKEK: the file source keeps today's 0600 kek file: it creates it
// from Rand, returns exactly its bytes on every call (so a data directory
// of an earlier version keeps its KEK), and refuses a loose file.
func TestFileKEK(t *testing.T) {
	dir := t.TempDir()
	seed := bytes.Repeat([]byte{0x5a}, Size)
	f := &File{Path: filepath.Join(dir, FileName), Rand: bytes.NewReader(seed)}
	k1, err := f.KEK(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, seed) {
		t.Fatal("KEK is not the random bytes it was made from")
	}
	fi, err := os.Stat(f.Path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kek file: %v %v", fi, err)
	}
	clear(k1)
	k2, err := f.KEK(context.Background()) // Rand is exhausted: must read the file
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k2, seed) || !bytes.Equal(readFile(t, f.Path), seed) {
		t.Fatal("KEK not read back from the file")
	}

	if err := os.Chmod(f.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.KEK(context.Background()); !errors.Is(err, keystore.ErrKEKFile) {
		t.Fatalf("loose kek file: %v, want keystore.ErrKEKFile", err)
	}
	f2 := &File{Path: filepath.Join(dir, "other"), Rand: iotest.ErrReader(errors.New("no entropy"))}
	if _, err := f2.KEK(context.Background()); err == nil {
		t.Fatal("KEK made without randomness")
	}
	assertNoFile(t, f2.Path)
}

// failingTPM is a TPM that is present but whose every command fails.
type failingTPM struct{ sent int }

func (f *failingTPM) Send([]byte) ([]byte, error) { f.sent++; return nil, errors.New("link down") }
func (f *failingTPM) Close() error                { return nil }

func openWith(tp transport.TPMCloser, err error) OpenFunc {
	return func(context.Context, string) (transport.TPMCloser, error) { return tp, err }
}

// fallbackSource is a TPM source whose device does not exist (the real
// opener on a path in a temporary directory), logging into logs.
func fallbackSource(t *testing.T, fallback bool) (*TPM, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	logs := &bytes.Buffer{}
	return &TPM{
		Device:     filepath.Join(t.TempDir(), "tpmrm0"),
		SealedPath: filepath.Join(dir, SealedName),
		File:       &File{Path: filepath.Join(dir, FileName)},
		Fallback:   fallback,
		Logger:     slog.New(slog.NewTextHandler(logs, nil)),
	}, logs
}

func TestFallbackWhenTPMAbsent(t *testing.T) {
	s, logs := fallbackSource(t, true)
	k, err := s.KEK(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k, readFile(t, s.File.Path)) {
		t.Fatal("fallback KEK is not the file's")
	}
	assertNoFile(t, s.SealedPath)
	l := logs.String()
	if !strings.Contains(l, "level=WARN") || !strings.Contains(l, "fallback") ||
		!strings.Contains(l, "no such file or directory") || !strings.Contains(l, s.Device) {
		t.Fatalf("fallback not logged at warn with its reason: %s", l)
	}
	k2, err := s.KEK(context.Background())
	if err != nil || !bytes.Equal(k, k2) {
		t.Fatalf("second fallback KEK differs: %v", err)
	}
}

func TestNoFallbackUnlessAllowed(t *testing.T) {
	s, _ := fallbackSource(t, false)
	_, err := s.KEK(context.Background())
	if !errors.Is(err, ErrTPMAbsent) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want ErrTPMAbsent", err)
	}
	assertNoFile(t, s.File.Path)
}

// TestNoFallbackOverASealedKEK: the TPM that sealed the KEK is gone; a
// fallback file would be a new KEK.
func TestNoFallbackOverASealedKEK(t *testing.T) {
	s, logs := fallbackSource(t, true)
	b, err := blob{srkName: []byte{0, 11, 1}, public: []byte{2}, private: []byte{3}}.marshal()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, s.SealedPath, b)
	_, err = s.KEK(context.Background())
	if !errors.Is(err, ErrTPMAbsent) || !strings.Contains(err.Error(), "orphan") {
		t.Fatalf("got %v, want ErrTPMAbsent saying why", err)
	}
	assertNoFile(t, s.File.Path)
	if strings.Contains(logs.String(), "fallback") {
		t.Errorf("logged a fallback: %s", logs.String())
	}
}

// TestNoFallbackWhenTPMFails: a device that exists but is no TPM, a
// device that cannot be opened, and a TPM whose commands fail are all
// ErrTPM, never the file.
func TestNoFallbackWhenTPMFails(t *testing.T) {
	t.Run("not a device", func(t *testing.T) {
		s, _ := fallbackSource(t, true)
		writeFile(t, s.Device, []byte("regular file"))
		if _, err := s.KEK(context.Background()); !errors.Is(err, ErrTPM) {
			t.Fatalf("got %v, want ErrTPM", err)
		}
		assertNoFile(t, s.File.Path)
	})
	t.Run("permission denied", func(t *testing.T) {
		s, _ := fallbackSource(t, true)
		s.Open = openWith(nil, &fs.PathError{Op: "open", Path: s.Device, Err: fs.ErrPermission})
		if _, err := s.KEK(context.Background()); !errors.Is(err, ErrTPM) || !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("got %v, want ErrTPM", err)
		}
		assertNoFile(t, s.File.Path)
	})
	t.Run("commands fail", func(t *testing.T) {
		s, _ := fallbackSource(t, true)
		tp := &failingTPM{}
		s.Open = openWith(tp, nil)
		if _, err := s.KEK(context.Background()); !errors.Is(err, ErrTPM) {
			t.Fatalf("got %v, want ErrTPM", err)
		}
		if tp.sent == 0 {
			t.Fatal("no command was sent")
		}
		assertNoFile(t, s.File.Path)
		assertNoFile(t, s.SealedPath)
	})
}

// TestTPMDoesNotReplaceAKEKFile: a KEK file from an earlier fallback
// keeps the key store's keys; the TPM must not seal a second KEK.
func TestTPMDoesNotReplaceAKEKFile(t *testing.T) {
	s, _ := fallbackSource(t, true)
	old := bytes.Repeat([]byte{7}, Size)
	writeFile(t, s.File.Path, old)
	tp := &failingTPM{}
	s.Open = openWith(tp, nil)
	_, err := s.KEK(context.Background())
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "orphan") {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	if tp.sent != 0 {
		t.Errorf("%d commands sent to the TPM", tp.sent)
	}
	assertNoFile(t, s.SealedPath)
	if !bytes.Equal(old, readFile(t, s.File.Path)) {
		t.Fatal("the KEK file changed")
	}
}

// randomTPM answers TPM2_GetRandom with chunks of fixed bytes, at most
// max per answer.
type randomTPM struct {
	b   byte
	max int
}

func (r *randomTPM) Send(cmd []byte) ([]byte, error) {
	if len(cmd) != 12 || binary.BigEndian.Uint32(cmd[6:]) != 0x17b {
		return nil, errors.New("not GetRandom")
	}
	n := min(int(binary.BigEndian.Uint16(cmd[10:])), r.max)
	rsp := make([]byte, 12+n)
	binary.BigEndian.PutUint16(rsp[0:], 0x8001) // TPM_ST_NO_SESSIONS
	binary.BigEndian.PutUint32(rsp[2:], uint32(len(rsp)))
	binary.BigEndian.PutUint16(rsp[10:], uint16(n))
	for i := range n {
		rsp[12+i] = r.b
	}
	return rsp, nil
}

// TestRandomMixesBothSources: the KEK is Rand XOR the TPM's bytes, and
// short answers of the TPM are completed.
func TestRandomMixesBothSources(t *testing.T) {
	s := &TPM{Rand: bytes.NewReader(bytes.Repeat([]byte{0x0f}, Size))}
	k, err := s.random(&randomTPM{b: 0xf5, max: 20})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k, bytes.Repeat([]byte{0xfa}, Size)) {
		t.Fatalf("got %x, want fa...", k)
	}
	s.Rand = iotest.ErrReader(io.ErrUnexpectedEOF)
	if _, err := s.random(&randomTPM{b: 1, max: 32}); err == nil {
		t.Fatal("no error from a failing Rand")
	}
	s.Rand = bytes.NewReader(make([]byte, Size))
	if _, err := s.random(&randomTPM{b: 1, max: 0}); !errors.Is(err, ErrTPM) {
		t.Fatalf("empty TPM answers: %v, want ErrTPM", err)
	}
}

func TestBlobRoundTrip(t *testing.T) {
	b := blob{srkName: []byte{0, 11, 9, 9}, public: []byte{1, 2, 3}, private: bytes.Repeat([]byte{4}, 300)}
	data, err := b.marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseBlob(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.srkName, b.srkName) || !bytes.Equal(got.public, b.public) || !bytes.Equal(got.private, b.private) {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := (blob{srkName: []byte{1}, public: []byte{2}}).marshal(); err == nil {
		t.Fatal("marshalled a blob without private part")
	}
	if _, err := parseBlob(append(data, make([]byte, maxBlob)...)); err == nil {
		t.Fatal("parsed an oversized file")
	}
}

// FuzzParseBlob: parsing the sealed KEK file never panics, and what parses
// marshals back to the same bytes.
func FuzzParseBlob(f *testing.F) {
	good, _ := blob{srkName: []byte{0, 11, 1}, public: []byte{2, 3}, private: []byte{4, 5, 6}}.marshal()
	f.Add(good)
	f.Add([]byte(blobMagic))
	f.Add([]byte{})
	f.Add(append([]byte(blobMagic), 0xff, 0xff, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := parseBlob(data)
		if err != nil {
			return
		}
		out, err := b.marshal()
		if err != nil {
			t.Fatalf("parsed but does not marshal: %v", err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("round trip differs")
		}
	})
}
