package emv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cemv "posd/crypto/emv"
)

func TestSimParams(t *testing.T) {
	cfg, err := LoadParams(SimParams())
	if err != nil {
		t.Fatalf("the simulated board's parameter file: %v", err)
	}
	if len(cfg.AIDs) != 3 || len(cfg.CAPKs()) < 10 {
		t.Fatalf("%d AIDs, %d CA keys", len(cfg.AIDs), len(cfg.CAPKs()))
	}
	v := cfg.AIDs[0]
	l := v.Limits["156"]
	if v.Kernel != 3 || !v.Contact || !v.Contactless || l.CLCVMLimit != 100000 || l.FloorLimit != 50000 || v.TTQ != [4]byte{0x36, 0, 0x40, 0} {
		t.Errorf("Visa entry %+v", v)
	}
	mc := cfg.AIDs[1].Limits["156"]
	if mc.CLTransactionLimitCDCVM != 2000000 || mc.RandomThreshold != NoLimit {
		t.Errorf("Mastercard limits %+v", mc)
	}
	if err := cfg.AddCAPKs(getPKI(t).ca.CAPK()); err != nil {
		t.Fatal(err)
	}
	bad := getPKI(t).ca.CAPK()
	bad.Checksum = make([]byte, 20)
	if err := cfg.AddCAPKs(bad); !errors.Is(err, ErrParams) || !errors.Is(err, cemv.ErrCAPK) {
		t.Errorf("a key with a wrong checksum: %v", err)
	}
}

func TestLoadParamsFile(t *testing.T) {
	dir := t.TempDir()
	keys, err := os.ReadFile("../../crypto/emv/testdata/capk_test_keys.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys.json"), keys, 0o600); err != nil {
		t.Fatal(err)
	}
	p := strings.Replace(testParams, `"aids"`, `"capk_files": ["keys.json"], "aids"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "p.json"), []byte(p), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadParamsFile(filepath.Join(dir, "p.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.CAPKs()) != 11 {
		t.Errorf("%d keys", len(cfg.CAPKs()))
	}
	if _, err := LoadParams([]byte(p)); !errors.Is(err, ErrParams) {
		t.Errorf("capk_files through LoadParams: %v", err)
	}
}

func TestLoadParamsErrors(t *testing.T) {
	cases := map[string][2]string{
		"not json":      {`"terminal"`, `"terminal" x`},
		"unknown field": {`"aids"`, `"extra": 1, "aids"`},
		"type":          {`"type": "22"`, `"type": "2G"`},
		"capabilities":  {`"E0F8C8"`, `"E0F8"`},
		"country":       {`"country": "156"`, `"country": "15"`},
		"default":       {`"default_currency": "156"`, `"default_currency": "392"`},
		"aid":           {`"A0000000031010"`, `"A000"`},
		"interface": {`["contact", "contactless"],
     "kernel": 3`, `["chip"], "kernel": 3`},
		"kernel":          {`"kernel": 3`, `"kernel": 4`},
		"tac":             {`"tac_denial": "0010000000"`, `"tac_denial": "00100000"`},
		"ddol":            {`"default_ddol": "9F3704"`, `"default_ddol": "9F37"`},
		"random":          {`"target_percent": 0, "max_target_percent": 0`, `"target_percent": 50, "max_target_percent": 10`},
		"ttq":             {`"ttq": "36004000"`, `"ttq": "3600"`},
		"limit currency":  {`"limits": {"156"`, `"limits": {"392"`},
		"negative limit":  {`"floor_limit": 50000, "random`, `"floor_limit": -1, "random`},
		"merchant cat":    {`"merchant_category": "5999"`, `"merchant_category": "59X9"`},
		"cvm capability":  {`"cvm_capability_cvm_required": "60"`, `"cvm_capability_cvm_required": "6"`},
		"duplicate aid":   {`"aids": [`, `"aids": [{"aid": "A0000000041010", "interfaces": ["contact"], "kernel": 2, "app_version": "0002", "tac_denial": "0000000000", "tac_online": "0000000000", "tac_default": "0000000000", "limits": {}},`},
		"capks malformed": {`"aids"`, `"capks": [{"rid": "A0"}], "aids"`},
	}
	for name, c := range cases {
		p := strings.Replace(testParams, c[0], c[1], 1)
		if p == testParams {
			t.Fatalf("%s: the replacement does not apply", name)
		}
		if _, err := LoadParams([]byte(p)); !errors.Is(err, ErrParams) {
			t.Errorf("%s: %v, want ErrParams", name, err)
		}
	}
	if _, err := LoadParams([]byte(`{"terminal": {}, "aids": []}`)); !errors.Is(err, ErrParams) {
		t.Errorf("empty: %v", err)
	}
}
