package keystore

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"posd/crypto/tr31"
	"posd/internal/testhex"
)

var fixedNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newStore(t testing.TB) (*Store, *bbolt.DB, string, KEK) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "posd.db")
	db := openDB(t, path)
	t.Cleanup(func() { db.Close() })
	kek, err := NewStaticKEK(bytes.Repeat([]byte{0x5A}, 32))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(db, kek, &Opts{Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	return s, db, path, kek
}

var bdkHeader = tr31.Header{Version: 'D', KeyUsage: "B0", Algorithm: 'T', ModeOfUse: 'X', Exportability: 'N'}

func TestPutUseListDelete(t *testing.T) {
	s, _, _, _ := newStore(t)
	// ANSI X9.24-1:2009 A.4 BDK; TR-31:2018 A.7.4 key as AES.
	bdk := testhex.Bytes(t, "0123456789ABCDEFFEDCBA9876543210")
	aesKey := testhex.Bytes(t, "3F419E1CB7079442AA37474C2EFBF8B8")
	if err := s.Put("bdk", bdkHeader, bdk); err != nil {
		t.Fatal(err)
	}
	ik := tr31.Header{Version: 'D', KeyUsage: "B1", Algorithm: 'A', ModeOfUse: 'X', Exportability: 'N',
		Blocks: []tr31.OptBlock{{ID: "IK", Data: "1234567890123456"}}}
	if err := s.Put("dukpt/ik", ik, aesKey); err != nil {
		t.Fatal(err)
	}
	var got []byte
	var seen []byte
	err := s.Use("bdk", func(k []byte) error {
		got = append(got, k...)
		seen = k
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bdk) {
		t.Errorf("Use gave %X", got)
	}
	if !bytes.Equal(seen, make([]byte, len(seen))) {
		t.Errorf("key buffer not zeroed after Use")
	}
	sentinel := errors.New("callback failed")
	if err := s.Use("bdk", func([]byte) error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("callback error lost: %v", err)
	}

	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Name: "bdk", Usage: "B0", Algorithm: 'T', KCV: "08D7B4", Created: fixedNow},
		{Name: "dukpt/ik", Usage: "B1", Algorithm: 'A', KCV: "08793E", Created: fixedNow},
	}
	if len(list) != len(want) {
		t.Fatalf("List = %+v", list)
	}
	for i := range want {
		if list[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, list[i], want[i])
		}
	}
	h, err := s.Header("dukpt/ik")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := h.Block("IK"); v != "1234567890123456" {
		t.Errorf("IK = %q", v)
	}
	if err := s.Delete("bdk"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("bdk"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := s.Info("bdk"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Info after delete: %v", err)
	}
	if err := s.Use("nope", func([]byte) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Use missing: %v", err)
	}
	for _, bad := range []string{"", "a b", strings.Repeat("x", 65), "ä"} {
		if err := s.Put(bad, bdkHeader, bdk); !errors.Is(err, ErrName) {
			t.Errorf("Put(%q): %v", bad, err)
		}
	}
}

func TestKCVVectors(t *testing.T) {
	cases := []struct {
		alg      byte
		key, kcv string
	}{
		// TR-31:2018 A.7.2.1 / A.7.2.2 keys, legacy TDES check values.
		{'T', "F039121BEC83D26B169BDCD5B22AAF8F", "CB9DEA"},
		{'T', "3F419E1CB7079442AA37474C2EFBF8B8", "57C409"},
		// ANSI X9.24-1:2009 A.4 test BDK, check value as commonly published.
		{'T', "0123456789ABCDEFFEDCBA9876543210", "08D7B4"},
		// Same key as AES (TR-31:2018 A.7.4, X9.143:2021 8.1: 08793E25AB).
		{'A', "3F419E1CB7079442AA37474C2EFBF8B8", "08793E"},
		// X9.143:2021 / openemv KP block of the A.7.4 KBPK: 2331550BC9.
		{'A', "88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6", "233155"},
	}
	for _, c := range cases {
		got, err := KCV(c.alg, testhex.Bytes(t, c.key))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.kcv {
			t.Errorf("KCV(%c, %s) = %s, want %s", c.alg, c.key, got, c.kcv)
		}
	}
	if _, err := KCV('R', []byte{1}); err == nil {
		t.Errorf("KCV of RSA accepted")
	}
}

func TestSecrets(t *testing.T) {
	s, _, _, _ := newStore(t)
	data := make([]byte, 700)
	rand.Read(data)
	if err := s.PutSecret("dukpt/state", data); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := s.UseSecret("dukpt/state", func(d []byte) error { got = append(got, d...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("secret differs")
	}
	if err := s.Use("dukpt/state", func([]byte) error { return nil }); !errors.Is(err, ErrKind) {
		t.Errorf("Use on secret: %v", err)
	}
	if err := s.Put("k", bdkHeader, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if err := s.UseSecret("k", func([]byte) error { return nil }); !errors.Is(err, ErrKind) {
		t.Errorf("UseSecret on key: %v", err)
	}
	e, err := s.Info("dukpt/state")
	if err != nil || !e.Secret || e.KCV != "" {
		t.Errorf("Info = %+v, %v", e, err)
	}
	if err := s.PutSecret("big", make([]byte, MaxSecret+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big secret: %v", err)
	}
	if err := s.PutSecret("max", make([]byte, MaxSecret)); err != nil {
		t.Errorf("MaxSecret: %v", err)
	}
}

func TestWrongKEK(t *testing.T) {
	s, db, _, _ := newStore(t)
	if err := s.Put("bdk", bdkHeader, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	other, _ := NewStaticKEK(bytes.Repeat([]byte{0xA5}, 32))
	if _, err := Open(db, other, nil); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("Open with other KEK: %v", err)
	}
	// Even without the recorded check value the entries do not verify.
	db.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte(BucketMeta)).Delete([]byte(metaKEKCheck)) })
	s2, err := Open(db, other, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s2.Use("bdk", func([]byte) error { t.Error("callback ran"); return nil })
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, tr31.ErrMAC) {
		t.Errorf("Use under other KEK: %v", err)
	}
	if _, err := Open(db, &StaticKEK{key: make([]byte, 16)}, nil); !errors.Is(err, ErrKEK) {
		t.Errorf("short KEK: %v", err)
	}
}

func TestTamperedAndSwappedBlocks(t *testing.T) {
	s, db, _, _ := newStore(t)
	if err := s.Put("pin", tr31.Header{Version: 'D', KeyUsage: "P0", Algorithm: 'A', ModeOfUse: 'E', Exportability: 'N'}, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("mac", tr31.Header{Version: 'D', KeyUsage: "M6", Algorithm: 'A', ModeOfUse: 'C', Exportability: 'N'}, bytes.Repeat([]byte{1}, 16)); err != nil {
		t.Fatal(err)
	}
	var orig []byte
	db.View(func(tx *bbolt.Tx) error {
		orig = append(orig, tx.Bucket([]byte(BucketKeys)).Get([]byte("pin"))...)
		return nil
	})
	for _, i := range []int{5, 20, len(orig) / 2, len(orig) - 1} {
		bad := append([]byte(nil), orig...)
		if bad[i] == '0' {
			bad[i] = '1'
		} else {
			bad[i] = '0'
		}
		db.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte(BucketKeys)).Put([]byte("pin"), bad) })
		if err := s.Use("pin", func([]byte) error { t.Error("callback ran"); return nil }); !errors.Is(err, ErrCorrupt) {
			t.Errorf("tampered at %d: %v", i, err)
		}
		if _, err := s.List(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("List with tampered entry: %v", err)
		}
	}
	// A valid block moved to another name is refused too.
	db.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte(BucketKeys)).Put([]byte("pin"), orig) })
	db.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte(BucketKeys)).Put([]byte("mac"), orig) })
	if err := s.Use("mac", func([]byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("swapped block: %v", err)
	}
	if err := s.Use("pin", func([]byte) error { return nil }); err != nil {
		t.Errorf("restored block: %v", err)
	}
}

func TestImport(t *testing.T) {
	s, _, _, _ := newStore(t)
	// TR-31:2018 A.7.4: KBPK and key block.
	kbpk := testhex.Bytes(t, "88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6")
	block := "D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D207E2E417C07156A27E8E31DA05F7425509593D03A457DC34"
	if err := s.Put("kbpk", tr31.Header{Version: 'D', KeyUsage: "K1", Algorithm: 'A', ModeOfUse: 'D', Exportability: 'N'}, kbpk); err != nil {
		t.Fatal(err)
	}
	if err := s.Import("pek", "kbpk", block); err != nil {
		t.Fatal(err)
	}
	e, err := s.Info("pek")
	if err != nil {
		t.Fatal(err)
	}
	if e.Usage != "P0" || e.Algorithm != 'A' || e.KCV != "08793E" {
		t.Errorf("imported entry %+v", e)
	}
	err = s.Use("pek", func(k []byte) error {
		if !bytes.Equal(k, testhex.Bytes(t, "3F419E1CB7079442AA37474C2EFBF8B8")) {
			t.Errorf("imported key %X", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Tampered block, wrong KBPK, KBPK of the wrong usage.
	bad := block[:len(block)-1] + "5"
	if err := s.Import("x", "kbpk", bad); !errors.Is(err, ErrImport) || !errors.Is(err, tr31.ErrMAC) {
		t.Errorf("tampered import: %v", err)
	}
	if err := s.Put("kbpk2", tr31.Header{Version: 'D', KeyUsage: "K1", Algorithm: 'A', ModeOfUse: 'B', Exportability: 'N'}, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if err := s.Import("x", "kbpk2", block); !errors.Is(err, tr31.ErrMAC) {
		t.Errorf("wrong KBPK import: %v", err)
	}
	if err := s.Import("x", "pek", block); !errors.Is(err, ErrUsage) {
		t.Errorf("non-KBPK import: %v", err)
	}
	if _, err := s.Info("x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed import left an entry: %v", err)
	}
	// TDES: TR-31:2018 A.7.3.2 (version B) under a stored TDES KBPK.
	if err := s.Put("tkbpk", tr31.Header{Version: 'D', KeyUsage: "K0", Algorithm: 'T', ModeOfUse: 'B', Exportability: 'N'},
		testhex.Bytes(t, "1D22BF32387C600AD97F9B97A51311AC")); err != nil {
		t.Fatal(err)
	}
	if err := s.Import("bdk", "tkbpk", "B0104B0TX12S0100KS1800604B120F9292800000BB68BE8680A400D9191AD4ECE45B6E6C0D21C4738A52190E248719E24B433627"); err != nil {
		t.Fatal(err)
	}
	h, err := s.Header("bdk")
	if err != nil {
		t.Fatal(err)
	}
	if ks, _ := h.Block("KS"); ks != "00604B120F9292800000" || h.KeyVersion != "12" || h.Exportability != 'S' {
		t.Errorf("imported header %+v", h)
	}
	if e, _ := s.Info("bdk"); e.KCV != "9A4212" {
		t.Errorf("imported BDK KCV %s", e.KCV)
	}
}

// The raw database file must not contain any clear key, in binary or hex.
func TestNoClearKeyInFile(t *testing.T) {
	s, db, path, _ := newStore(t)
	keys := map[string][]byte{}
	for i, alg := range []byte{'A', 'A', 'T'} {
		n := 32
		if alg == 'T' {
			n = 24
		}
		k := make([]byte, n)
		rand.Read(k)
		name := string(rune('a' + i))
		keys[name] = k
		if err := s.Put(name, tr31.Header{Version: 'D', KeyUsage: "D0", Algorithm: alg, ModeOfUse: 'B', Exportability: 'N'}, k); err != nil {
			t.Fatal(err)
		}
	}
	secret := make([]byte, 300)
	rand.Read(secret)
	if err := s.PutSecret("s", secret); err != nil {
		t.Fatal(err)
	}
	keys["s"] = secret
	db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range keys {
		for _, needle := range [][]byte{k[:12], []byte(hex.EncodeToString(k[:12])), []byte(strings.ToUpper(hex.EncodeToString(k[:12])))} {
			if bytes.Contains(raw, needle) {
				t.Errorf("entry %s: clear key material found in the database file", name)
			}
		}
	}
	// Sanity: the needle search can fail — the entry names are in the file.
	if !bytes.Contains(raw, []byte("LB")) {
		t.Errorf("search found nothing at all; test is not looking at the right file")
	}
}

func TestSchemaVersion(t *testing.T) {
	_, db, _, kek := newStore(t)
	db.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte(BucketMeta)).Put([]byte(metaSchema), []byte("99")) })
	if _, err := Open(db, kek, nil); !errors.Is(err, ErrSchema) {
		t.Errorf("future schema: %v", err)
	}
	// A newer schema that says this build can use it (a firmware rolled
	// back after a newer one).
	db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(BucketMeta)).Put([]byte(metaCompat), []byte(schemaVersion))
	})
	if _, err := Open(db, kek, nil); err != nil {
		t.Errorf("future schema, compat %s: %v", schemaVersion, err)
	}
}

func TestKEKFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	k1, err := LoadOrCreateKEKFile(path, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Errorf("created %v, %d bytes", fi.Mode().Perm(), fi.Size())
	}
	k2, err := LoadOrCreateKEKFile(path, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1.Key(), k2.Key()) || len(k1.Key()) != 32 {
		t.Errorf("reloaded KEK differs")
	}
	os.Chmod(path, 0o640)
	if _, err := LoadOrCreateKEKFile(path, rand.Reader); !errors.Is(err, ErrKEKFile) {
		t.Errorf("0640: %v", err)
	}
	os.Chmod(path, 0o604)
	if _, err := LoadOrCreateKEKFile(path, rand.Reader); !errors.Is(err, ErrKEKFile) {
		t.Errorf("0604: %v", err)
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, make([]byte, 31), 0o600)
	if _, err := LoadOrCreateKEKFile(short, rand.Reader); !errors.Is(err, ErrKEKFile) {
		t.Errorf("31 bytes: %v", err)
	}
	os.Symlink(path, filepath.Join(dir, "link"))
	if _, err := LoadOrCreateKEKFile(filepath.Join(dir, "link"), rand.Reader); !errors.Is(err, ErrKEKFile) {
		t.Errorf("symlink: %v", err)
	}
	if _, err := LoadOrCreateKEKFile(filepath.Join(dir, "new"), bytes.NewReader(make([]byte, 5))); err == nil {
		t.Errorf("short random source accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Errorf("failed create left a file")
	}
}

func TestConcurrentUse(t *testing.T) {
	s, _, _, _ := newStore(t)
	h := tr31.Header{Version: 'D', KeyUsage: "D0", Algorithm: 'A', ModeOfUse: 'B', Exportability: 'N'}
	key := bytes.Repeat([]byte{7}, 32)
	if err := s.Put("k", h, key); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			for j := 0; j < 20; j++ {
				err := s.Use("k", func(k []byte) error {
					if !bytes.Equal(k, key) {
						return errors.New("wrong key")
					}
					return nil
				})
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
