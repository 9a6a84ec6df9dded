package risk

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func pans(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, p := range s {
		out[i] = []byte(p)
	}
	return out
}

func TestBuildParseHotlist(t *testing.T) {
	file, err := BuildHotlist(testKey(), 7, pans("4761739001010010", "6222021234567890123", "4761739001010010"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(file), "4761739001010010") || strings.Contains(string(file), "6222021234567890123") {
		t.Fatalf("hotlist file holds a PAN: %s", file)
	}
	h, err := ParseHotlist(file)
	if err != nil {
		t.Fatal(err)
	}
	hs, _ := NewHasher(testKey())
	on1, _ := hs.Card([]byte("4761739001010010"))
	on2, _ := hs.Card([]byte("6222021234567890123"))
	off, _ := hs.Card([]byte("4761739001010011"))
	if h.Version() != 7 || h.Len() != 2 || h.KCV() != hs.KCV() {
		t.Errorf("version %d, %d entries, kcv %s", h.Version(), h.Len(), h.KCV())
	}
	if !h.Contains(on1) || !h.Contains(on2) || h.Contains(off) {
		t.Error("membership wrong")
	}
	var nilList *Hotlist
	if nilList.Contains(on1) {
		t.Error("no hotlist contains a card")
	}
	// The file is what the format says: uppercase hex and any order read
	// the same.
	var f map[string]any
	if err := json.Unmarshal(file, &f); err != nil || f["schema"] != 1.0 || f["alg"] != "hmac-sha256" || f["kcv"] != hs.KCV() {
		t.Errorf("file %s", file)
	}
	upper := `{"schema":1,"version":7,"alg":"hmac-sha256","kcv":"` + strings.ToUpper(hs.KCV()) + `","hashes":["` +
		strings.ToUpper(hex.EncodeToString(on2[:])) + `","` + hex.EncodeToString(on1[:]) + `"]}`
	h2, err := ParseHotlist([]byte(upper))
	if err != nil || !h2.same(h) || h2.KCV() != h.KCV() {
		t.Errorf("uppercase, other order: %v", err)
	}
	if _, err := BuildHotlist(testKey(), 1, pans("4761739001010010", "12345")); !errors.Is(err, ErrPAN) || !strings.Contains(err.Error(), "PAN 1") {
		t.Errorf("bad PAN: %v", err)
	}
	if _, err := BuildHotlist(testKey(), 0, nil); !errors.Is(err, ErrHotlist) {
		t.Errorf("version 0: %v", err)
	}
	if _, err := BuildHotlist(testKey()[:4], 1, nil); !errors.Is(err, ErrHashKey) {
		t.Errorf("short key: %v", err)
	}
	empty, err := BuildHotlist(testKey(), 3, nil)
	if h, err2 := ParseHotlist(empty); err != nil || err2 != nil || h.Len() != 0 {
		t.Errorf("empty list: %s %v %v", empty, err, err2)
	}
}

func TestParseHotlistRefuses(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	ok := func(mod string) string {
		return `{"schema":1,"version":2,"alg":"hmac-sha256","kcv":"051bbf90","hashes":["` + hash + `"]` + mod + `}`
	}
	if _, err := ParseHotlist([]byte(ok(""))); err != nil {
		t.Fatalf("the base case: %v", err)
	}
	for _, in := range []string{
		``, `null`, `[]`, `{}`, ok(`,"extra":1`), ok("") + "{}", ok("") + "x",
		strings.Replace(ok(""), `"schema":1`, `"schema":2`, 1),
		strings.Replace(ok(""), `"version":2`, `"version":0`, 1),
		strings.Replace(ok(""), `"version":2`, `"version":-2`, 1),
		strings.Replace(ok(""), `"version":2`, `"version":2.5`, 1),
		strings.Replace(ok(""), `hmac-sha256`, `sha256`, 1),
		strings.Replace(ok(""), `051bbf90`, `051bbf9`, 1),
		strings.Replace(ok(""), `051bbf90`, `051bbf9g`, 1),
		strings.Replace(ok(""), `"hashes":["`+hash+`"]`, `"hashes":null`, 1),
		strings.Replace(ok(""), hash, hash[2:], 1),
		strings.Replace(ok(""), hash, hash+"ab", 1),
		strings.Replace(ok(""), hash, "zz"+hash[2:], 1),
		strings.Replace(ok(""), `"`+hash+`"`, `7`, 1),
		`{"schema":1,"version":2,"alg":"hmac-sha256","kcv":"051bbf90","hashes":["` + hash + `"` + strings.Repeat(" ", maxHotlistFile) + `]}`,
	} {
		_, err := ParseHotlist([]byte(in))
		if !errors.Is(err, ErrHotlist) {
			t.Errorf("%.80s: accepted or wrong error: %v", in, err)
		} else if strings.Contains(err.Error(), hash[:16]) {
			t.Errorf("error shows a hash: %v", err)
		}
	}
}

func TestHotlistBlob(t *testing.T) {
	file, _ := BuildHotlist(testKey(), 1<<40, pans("4761739001010010", "6222021234567890123"))
	h, _ := ParseHotlist(file)
	back, err := hotlistFromBlob(h.blob())
	if err != nil || !back.same(h) || back.version != h.version {
		t.Fatalf("blob round trip: %v", err)
	}
	b := h.blob()
	for _, bad := range [][]byte{nil, b[:blobHeader-1], b[:len(b)-1], append([]byte("XHL1"), b[4:]...)} {
		if _, err := hotlistFromBlob(bad); !errors.Is(err, ErrDamaged) {
			t.Errorf("damaged blob of %d bytes: %v", len(bad), err)
		}
	}
}

// FuzzParseHotlist: no file makes the parser panic or fail with another
// error; a file it accepts means the same after Encode and a second parse.
func FuzzParseHotlist(f *testing.F) {
	good, _ := BuildHotlist(testKey(), 3, pans("4761739001010010", "6222021234567890123"))
	f.Add(good)
	empty, _ := BuildHotlist(testKey(), 1, nil)
	f.Add(empty)
	f.Add([]byte(`{"schema":1,"version":2,"alg":"hmac-sha256","kcv":"051BBF90","hashes":["` + strings.Repeat("AB", 32) + `"]}`))
	f.Add([]byte(`{"schema":1,"version":18446744073709551615,"alg":"hmac-sha256","kcv":"00000000","hashes":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHotlist(b)
		if err != nil {
			if !errors.Is(err, ErrHotlist) {
				t.Fatalf("error not ErrHotlist: %v", err)
			}
			return
		}
		back, err := ParseHotlist(h.Encode())
		if err != nil || !back.same(h) || back.Version() != h.Version() {
			t.Fatalf("round trip: %v", err)
		}
		blob, err := hotlistFromBlob(h.blob())
		if err != nil || !blob.same(h) || blob.Version() != h.Version() {
			t.Fatalf("blob round trip: %v", err)
		}
	})
}
