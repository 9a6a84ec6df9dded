package durable

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if err != nil || string(b) != "two" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("%q %v %v", b, fi.Mode(), err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if err := WriteFile(filepath.Join(dir, "no", "such"), nil, 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

// TestRemoveStale: the temporary files a write cut short leaves (named as
// WriteFile's os.CreateTemp names them) go; nothing else does.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for _, target := range []string{"posd.db.instance", "console-audit.reset", "dukpt-mark.json"} {
		f, err := os.CreateTemp(dir, "."+target+".*")
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("half a write")
		f.Close()
		want = append(want, filepath.Base(f.Name()))
	}
	keep := []string{"posd.db", "posd.db.instance", "posd.db.new", ".hidden", ".posd.db.new", ".x.12a", ".5", "x.123", ".x."}
	for _, k := range keep {
		if err := os.WriteFile(filepath.Join(dir, k), []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, ".spool.123"), 0o700) // a directory is not WriteFile's
	got, err := RemoveStale(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("removed %v, want %v", got, want)
	}
	for _, k := range keep {
		if _, err := os.Stat(filepath.Join(dir, k)); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, ".spool.123")); err != nil || !fi.IsDir() {
		t.Errorf("the directory went: %v", err)
	}
}

// TestJSONRoundTrip: WriteJSON's file reads back with ReadJSON; a missing
// file is reported as such and leaves the value alone; one that does not
// decode is ErrUnreadable.
func TestJSONRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mark.json")
	type v struct {
		N map[string]uint64 `json:"n"`
	}
	got := v{N: map[string]uint64{"keep": 1}}
	if found, err := ReadJSON(p, &got); found || err != nil || got.N["keep"] != 1 {
		t.Fatalf("missing file: %v %v %+v", found, err, got)
	}
	if err := WriteJSON(p, v{N: map[string]uint64{"stan": 172}}, 0o600); err != nil {
		t.Fatal(err)
	}
	got = v{}
	if found, err := ReadJSON(p, &got); !found || err != nil || got.N["stan"] != 172 {
		t.Fatalf("after write: %v %v %+v", found, err, got)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	os.WriteFile(p, []byte("{\"n\":"), 0o600)
	if _, err := ReadJSON(p, &got); !errors.Is(err, ErrUnreadable) {
		t.Fatalf("truncated file: %v", err)
	}
}
