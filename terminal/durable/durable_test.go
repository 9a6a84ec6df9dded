package durable

import (
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
