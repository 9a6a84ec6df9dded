package emv

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

func TestCAPKValidate(t *testing.T) {
	k := *lookup(t, loadTestCAPKs(t), "A000000003", 0x99)
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := *k.clone()
	bad.Modulus[10] ^= 1
	if err := bad.Validate(); !errors.Is(err, ErrCAPK) {
		t.Errorf("altered modulus: %v", err)
	}
	bad = *k.clone()
	bad.Index = 0x98
	if err := bad.Validate(); !errors.Is(err, ErrCAPK) {
		t.Errorf("other index: %v", err)
	}
	bad = *k.clone()
	bad.Checksum = nil
	if err := bad.Validate(); !errors.Is(err, ErrCAPK) {
		t.Errorf("no checksum: %v", err)
	}
	bad = *k.clone()
	bad.HashAlgorithm = 2
	if err := bad.Validate(); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("hash algorithm 02: %v", err)
	}
	bad = *k.clone()
	bad.Exponent = []byte{5}
	bad.Checksum = bad.ComputeChecksum()
	if err := bad.Validate(); !errors.Is(err, ErrPublicKey) {
		t.Errorf("exponent 5: %v", err)
	}
	if err := NewCAPKStore().Add(bad); err == nil {
		t.Error("store took an invalid key")
	}
}

func TestCAPKStore(t *testing.T) {
	s := loadTestCAPKs(t)
	if _, err := s.Lookup([]byte{0xA0, 0, 0, 0, 3}, 0x01); !errors.Is(err, ErrCAPKNotFound) {
		t.Errorf("unknown index: %v", err)
	}
	if _, err := s.Lookup([]byte{0xA0, 0, 0, 0}, 0x94); !errors.Is(err, ErrCAPKNotFound) {
		t.Errorf("4-byte RID: %v", err)
	}
	// Lookup returns copies.
	a := lookup(t, s, "A000000003", 0x94)
	a.Modulus[0] = 0
	if b := lookup(t, s, "A000000003", 0x94); b.Modulus[0] != 0xAC {
		t.Error("store shares its modulus")
	}
	all := s.All()
	if len(all) != 11 || all[0].name() != "A000000003/92" || all[10].name() != "A000000004/FA" {
		t.Errorf("order %s .. %s", all[0].name(), all[len(all)-1].name())
	}
	// A zero store works, and concurrent readers are safe.
	var z CAPKStore
	if err := z.Add(all[0]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				_, _ = s.Lookup(all[j%11].RID[:], all[j%11].Index)
				_ = s.Add(all[j%11])
			}
		}()
	}
	wg.Wait()
}

func TestParseCAPKFileErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/capk_test_keys.json")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseCAPKFile(good)
	if err != nil || len(keys) != 11 {
		t.Fatalf("%d keys, %v", len(keys), err)
	}
	one := `{"capks":[{"rid":"A000000003","index":"99","modulus":"AB79FCC9520896967E776E64444E5DCDD6E13611874F3985722520425295EEA4BD0C2781DE7F31CD3D041F565F747306EED62954B17EDABA3A6C5B85A1DE1BEB9A34141AF38FCF8279C9DEA0D5A6710D08DB4124F041945587E20359BAB47B7575AD94262D4B25F264AF33DEDCF28E09615E937DE32EDC03C54445FE7E382777","exponent":"03","checksum":"4ABFFD6B1C51212D05552E431C5B17007D2F5E6D"%s}]}`
	if _, err := ParseCAPKFile([]byte(strings.Replace(one, "%s", `,"expiry":"2030-06-30"`, 1))); err != nil {
		t.Errorf("one key with expiry: %v", err)
	}
	for name, text := range map[string]string{
		"not json":       "capks",
		"unknown field":  strings.Replace(one, "%s", `,"colour":"red"`, 1),
		"bad expiry":     strings.Replace(one, "%s", `,"expiry":"30-06-30"`, 1),
		"rid length":     strings.Replace(strings.Replace(one, "%s", "", 1), `"A000000003"`, `"A0000000"`, 1),
		"index length":   strings.Replace(strings.Replace(one, "%s", "", 1), `"index":"99"`, `"index":"0099"`, 1),
		"modulus hex":    strings.Replace(strings.Replace(one, "%s", "", 1), `"AB79`, `"XB79`, 1),
		"empty exponent": strings.Replace(strings.Replace(one, "%s", "", 1), `"exponent":"03"`, `"exponent":""`, 1),
		"checksum":       strings.Replace(strings.Replace(one, "%s", "", 1), `"4ABFFD6B`, `"4ABF`, 1),
		"hash algorithm": strings.Replace(one, "%s", `,"hash_algorithm":"0101"`, 1),
		"trailing data":  strings.Replace(one, "%s", "", 1) + "{}",
		"duplicate":      `{"capks":[` + strings.Repeat(strings.TrimSuffix(strings.TrimPrefix(strings.Replace(one, "%s", "", 1), `{"capks":[`), `]}`)+",", 2) + `{}]}`,
	} {
		if _, err := ParseCAPKFile([]byte(text)); !errors.Is(err, ErrCAPKFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A parsed but invalid key makes LoadJSON add nothing.
	s := NewCAPKStore()
	bad := strings.Replace(strings.Replace(one, "%s", "", 1), `"4ABFFD6B`, `"4ABFFD6C`, 1)
	if err := s.LoadJSON([]byte(bad)); !errors.Is(err, ErrCAPK) || s.Len() != 0 {
		t.Errorf("bad checksum: %v, %d keys", err, s.Len())
	}
}

func TestMonthYear(t *testing.T) {
	d := MonthYear{0x12, 0x49}
	if !d.Valid() || d.Month() != 12 || d.Year() != 2049 || d.String() != "12/49" {
		t.Errorf("%v %d %d", d, d.Month(), d.Year())
	}
	if y := (MonthYear{0x01, 0x50}).Year(); y != 1950 {
		t.Errorf("YY 50 is %d", y)
	}
	for _, bad := range []MonthYear{{0x00, 0x25}, {0x13, 0x25}, {0x1A, 0x25}, {0x01, 0xF5}} {
		if bad.Valid() {
			t.Errorf("%v valid", bad)
		}
		if _, err := bad.ExpiredOn([]byte{0x25, 0x01, 0x01}); !errors.Is(err, ErrDate) {
			t.Errorf("%v: %v", bad, err)
		}
	}
	if _, err := d.ExpiredOn([]byte{0x25, 0x13, 0x01}); !errors.Is(err, ErrDate) {
		t.Errorf("month 13: %v", err)
	}
	if _, err := d.ExpiredOn([]byte{0x25, 0x01}); !errors.Is(err, ErrDate) {
		t.Errorf("2-byte date: %v", err)
	}
	// Valid through the last day of its month; the century turns at 50.
	for _, c := range []struct {
		exp     MonthYear
		date    []byte
		expired bool
	}{
		{MonthYear{0x02, 0x24}, []byte{0x24, 0x02, 0x29}, false},
		{MonthYear{0x02, 0x24}, []byte{0x24, 0x03, 0x01}, true},
		{MonthYear{0x12, 0x99}, []byte{0x00, 0x01, 0x01}, true},
		{MonthYear{0x01, 0x00}, []byte{0x99, 0x12, 0x31}, false},
	} {
		got, err := c.exp.ExpiredOn(c.date)
		if err != nil || got != c.expired {
			t.Errorf("%v on %X: %v %v", c.exp, c.date, got, err)
		}
	}
}
