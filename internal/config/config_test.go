package config

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"posd/crypto/faceseal"
	"posd/terminal/wiresec"
)

func TestDefaultsValid(t *testing.T) {
	c, err := Parse([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Board != "sim" || c.API.Listen != "127.0.0.1:7070" || time.Duration(c.Host.ResponseTimeout) != 10*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigOverridesAndRejects(t *testing.T) {
	c, err := Parse([]byte(`{"host":{"addr":"10.0.0.5:5000","dialect":"cup","response_timeout":"3s","tpdu":"6000010000"},"dukpt":{"mode":"tdes"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Host.Addr != "10.0.0.5:5000" || c.Host.Dialect != "cup" || time.Duration(c.Host.ResponseTimeout) != 3*time.Second || c.DUKPT.Mode != "tdes" {
		t.Fatalf("overrides: %+v", c)
	}
	if time.Duration(c.Host.ConnectTimeout) != 3*time.Second || c.Terminal.ID != "POS00001" {
		t.Fatal("untouched keys lost their defaults")
	}
	for _, bad := range []string{
		`{"bord":"sim"}`,
		`{"board":"nope"}`,
		`{"api":{"listen":"0.0.0.0:7070"}}`,
		`{"host":{"tpdu":"60"}}`,
		`{"host":{"dialect":"iso93"}}`,
		`{"host":{"response_timeout":"soon"}}`,
		`{"terminal":{"id":"SHORT"}}`,
		`{"terminal":{"currency":"XXX"}}`,
		`{"dukpt":{"mode":"des"}}`,
		`{"log_level":"loud"}`,
		`[`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		} else if !strings.HasPrefix(err.Error(), "config:") {
			t.Errorf("error without context: %v", err)
		}
	}
}

func TestConfigRoughEdges(t *testing.T) {
	for bad, want := range map[string]string{
		`{"terminal":{"currency":"USD"}}`:                                                           "terminal.currency USD is not in terminal.currencies",
		`{"terminal":{"card_timeout":"0s"}}`:                                                        "terminal.card_timeout must be a positive duration",
		`{"host":{"reversal_retry":"0"}}`:                                                           "host.reversal_retry must be a positive duration",
		`{"host":{"connect_timeout":"-1s"}}`:                                                        "host.connect_timeout must be a positive duration",
		`{"shutdown_timeout":"0s"}`:                                                                 "shutdown_timeout must be a positive duration",
		`{"shutdown_timeout":"3s","host":{"response_timeout":"10s"}}`:                               "shutdown_timeout (3s) must be longer than host.connect_timeout + host.response_timeout (13s)",
		`{"host":{"response_timeout":"20s"}}`:                                                       "must be longer than host.connect_timeout + host.response_timeout (23s)",
		`{"host":{"advice_rate":-1}}`:                                                               "host.advice_rate must be between 0",
		`{"retention":"1h"}`:                                                                        "retention must be at least 24h",
		`{"host":{"echo_idle":"30s"}}`:                                                              "host.echo_idle must be 0 (no echo) or at least 1m",
		`{"host":{"echo_idle":"-1m"}}`:                                                              "host.echo_idle must be 0 (no echo) or at least 1m",
		`{"retention":"0s"}`:                                                                        "retention must be a positive duration",
		`{"settlement":{"auto_at":"24:00"}}`:                                                        "settlement.auto_at",
		`{"settlement":{"auto_at":"7:30"}}`:                                                         "settlement.auto_at",
		`{"settlement":{"auto_at":"late"}}`:                                                         "settlement.auto_at",
		`{"host":{"advice_rate":1e9}}`:                                                              "host.advice_rate must be between 0",
		`{"host":{"advice_rate":"fast"}}`:                                                           "host.advice_rate",
		`{"host":{"response_timeout":"soon"}}`:                                                      "host.response_timeout",
		`{"terminal":{"card_timeout":60}}`:                                                          "terminal.card_timeout",
		`{"board":"sim"} {"board":"rpi4"}`:                                                          "trailing data",
		`{"board":"sim"}x`:                                                                          "trailing data",
		`{"console":{"authority_key":"abcd"}}`:                                                      "console.authority_key: not an Ed25519 public key",
		`{"console":{"groups":["a b"]}}`:                                                            "console.groups",
		`{"console":{"groups":[""]}}`:                                                               "console.groups",
		`{"console":{"idle_timeout":"1s"}}`:                                                         "console.idle_timeout must be from 10s to 24h",
		`{"receipt":{"copies":["merchant","merchant"]}}`:                                            "receipt.copies",
		`{"receipt":{"copies":["shop"]}}`:                                                           "receipt.copies",
		`{"receipt":{"merchant_name":"SHOP\u001b@"}}`:                                               "receipt.merchant_name has a control character",
		`{"wallet":{"url":"ftp://x"}}`:                                                              "wallet.url",
		`{"wallet":{"url":"http://127.0.0.1:1","key":"zz"}}`:                                        "wallet.key",
		`{"wallet":{"url":"http://127.0.0.1:1","query_total":"1s"}}`:                                "wallet.query_total",
		`{"wallet":{"url":"http://127.0.0.1:1","query_rate":0}}`:                                    "wallet.query_rate",
		`{"wallet":{"url":"http://127.0.0.1:1","mpm":{"platform":"paypal"}}}`:                       "wallet.mpm.platform",
		`{"wallet":{"url":"http://127.0.0.1:1","mpm":{"accounts":{"paypal":"X"}}}}`:                 "wallet.mpm.accounts",
		`{"wallet":{"url":"http://127.0.0.1:1","mpm":{"accounts":{"wechat":"X"}}}}`:                 "wallet.mpm.platform",
		`{"wallet":{"url":"http://127.0.0.1:1","mpm":{"country":"China"}}}`:                         "wallet.mpm",
		`{"wallet":{"url":"http://127.0.0.1:1","mpm":{"name":"A NAME MUCH LONGER THAN 25 CHARS"}}}`: "wallet.mpm",
	} {
		_, err := Parse([]byte(bad))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v (want %q)", bad, err, want)
		}
	}
	c, err := Parse([]byte(`{"receipt":{"copies":["customer"]}}`))
	if err != nil || len(c.Settings().ReceiptCopies) != 1 || c.Settings().ReceiptCopies[0] != "cardholder" || c.Settings().Receipt.MerchantName != "MERCHANT0000001" {
		t.Errorf("receipt copies [customer]: %+v %v", c.Settings().ReceiptCopies, err)
	}
	if c, err = Parse([]byte(`{"receipt":{"copies":[]}}`)); err != nil || len(c.Settings().ReceiptCopies) != 0 {
		t.Errorf("receipt copies []: %+v %v", c.Settings().ReceiptCopies, err)
	}
	if c, err = Parse([]byte(`{"settlement":{"auto_at":"23:30"}}`)); err != nil || c.Settings().AutoSettle != 23*time.Hour+30*time.Minute {
		t.Errorf("settlement at 23:30: %v %v", c.Settings().AutoSettle, err)
	}
	if c, err = Parse([]byte(`{}`)); err != nil || c.Settings().AutoSettle >= 0 {
		t.Errorf("no settlement time: %v %v", c.Settings().AutoSettle, err)
	}
	if _, err := Parse([]byte(`{"terminal":{"currency":"USD","currencies":["USD"]},"risk":{"currency":"USD"}}`)); err != nil {
		t.Errorf("a USD terminal with USD rules: %v", err)
	}
	// The rules' amounts are in one currency: a sale in another would be
	// refused after the card.
	for _, bad := range []string{
		`{"terminal":{"currency":"USD","currencies":["CNY","USD"]}}`,
		`{"terminal":{"currencies":["CNY","JPY"]}}`,
		`{"terminal":{"currency":"USD","currencies":["USD"]}}`,
	} {
		if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "risk rules' currency") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"host":{"addr":"127.0.0.1:1","tpdu":"6000010000"},"terminal":{"max_amount":"10.00"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err == nil {
			if err := c.Validate(); err != nil {
				t.Fatalf("accepted config fails validation: %v", err)
			}
		}
	})
}

func TestSimTestKeyFollowsMode(t *testing.T) {
	c, _ := Parse([]byte(`{"dukpt":{"mode":"tdes"}}`))
	bdk, iksn := c.SimTestKey(wiresec.ModeTDES)
	if len(bdk) != 16 || len(iksn) != 10 {
		t.Fatalf("tdes test key: %d/%d bytes", len(bdk), len(iksn))
	}
	bdk, iksn = c.SimTestKey(wiresec.ModeAES)
	if len(bdk) != 16 || len(iksn) != 12 {
		t.Fatalf("aes test key: %d/%d bytes", len(bdk), len(iksn))
	}
	c, _ = Parse([]byte(`{"sim":{"test_bdk":"00112233445566778899AABBCCDDEEFF"}}`))
	if bdk, _ = c.SimTestKey(wiresec.ModeAES); bdk[0] != 0x00 || bdk[15] != 0xFF {
		t.Fatal("configured test BDK ignored")
	}
}

func TestSettingsAreTyped(t *testing.T) {
	c, err := Parse([]byte(`{"host":{"tpdu":"6000010000","dialect":"cup","response_timeout":"4s"},"terminal":{"max_amount":"100.50","currencies":["CNY"]},"dukpt":{"mode":"tdes"},"log_level":"warn"}`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Settings()
	if len(s.TPDU) != 5 || s.TPDU[0] != 0x60 || s.Dialect.Name != "cup" || s.ResponseTimeout != 4*time.Second ||
		s.MaxAmount != 10050 || s.Currency.Numeric != "156" || len(s.Currencies) != 1 || s.Currencies[0] != "156" ||
		s.Mode != wiresec.ModeTDES || s.LogLevel.String() != "WARN" || s.Profile.Name != "sim" || s.ShutdownTimeout != 15*time.Second {
		t.Fatalf("settings: %+v", s)
	}
}

func TestConfigMSR(t *testing.T) {
	c, err := Parse([]byte(`{"board":"rpi4","msr":{"kind":"serial","port":"/dev/ttyAMA2","baud":9600,"format":"magtek"}}`))
	if err != nil || c.MSR == nil || c.MSR.Port != "/dev/ttyAMA2" || c.Settings().Profile.MSR.Port != "/dev/ttyAMA2" {
		t.Fatalf("%+v %v", c.MSR, err)
	}
	for _, bad := range []string{
		`{"msr":{"kind":"serial"}}`,
		`{"msr":{"kind":"evdev","format":"fancy"}}`,
		`{"msr":{"kind":"evdev","devcie":"/dev/input/event3"}}`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestConsoleAuthorityKey(t *testing.T) {
	key := strings.Repeat("ab", 32)
	for _, v := range []string{key, strings.ToUpper(key), "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", " " + key + "\n"} {
		c, err := Parse([]byte(`{"console":{"authority_key":"` + strings.ReplaceAll(v, "\n", "\\n") + `","groups":["north-1"]}}`))
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if k := c.Settings().ConsoleKey; len(k) != 32 || k[0] != 0xab || k[31] != 0xab {
			t.Fatalf("%q read as %x", v, k)
		}
	}
	if c, err := Parse([]byte(`{}`)); err != nil || c.Settings().ConsoleKey != nil || c.Settings().ConsoleIdle != 5*time.Minute {
		t.Fatalf("defaults: %+v %v", c.Settings().ConsoleIdle, err)
	}
}

// The sim board signs its wallet requests with the key the wallet
// simulator derives for its terminal id.
func TestSimWalletKey(t *testing.T) {
	c, err := Parse([]byte(`{"terminal":{"id":"POS00042"},"wallet":{"url":"http://127.0.0.1:8585"}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte(SimWalletMasterKey))
	m.Write([]byte("POS00042"))
	if got := c.Settings().WalletKey; !bytes.Equal(got, m.Sum(nil)) {
		t.Fatalf("key %x", got)
	}
	if c, _ := Parse([]byte(`{}`)); c.Settings().WalletKey != nil || c.Settings().Merchant != nil {
		t.Fatal("a wallet key or merchant without a wallet")
	}
	// The merchant of the codes the display shows: the merchant id at
	// every platform by default.
	mer := c.Settings().Merchant
	if mer == nil || len(mer.Accounts) != 3 || mer.Terminal != "POS00042" || mer.Country != "CN" || mer.Accounts[0].MerchantID != c.Terminal.MerchantID {
		t.Fatalf("merchant %+v", mer)
	}
}

// face.attempts: how many liveness checks a face sale may run, 1 to 5
// (default 2).
func TestFaceAttempts(t *testing.T) {
	k, err := faceseal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := faceseal.MarshalPublicKey(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	face := func(extra string) []byte {
		key, _ := json.Marshal(string(pem))
		return []byte(`{"face":{"url":"http://127.0.0.1:8586","platform_key":` + string(key) + extra + `}}`)
	}
	c, err := Parse(face(""))
	if err != nil {
		t.Fatal(err)
	}
	if c.Settings().FaceAttempts != 2 {
		t.Fatalf("default attempts %d", c.Settings().FaceAttempts)
	}
	if c, err = Parse(face(`,"attempts":4`)); err != nil || c.Settings().FaceAttempts != 4 {
		t.Fatalf("attempts 4: %v", err)
	}
	for _, bad := range []string{`,"attempts":0`, `,"attempts":6`, `,"attempts":-1`} {
		if _, err := Parse(face(bad)); err == nil || !strings.Contains(err.Error(), "face.attempts") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// The face-pay link is signed like the wallet's: face.key on a real
// board, on the sim board a key derived as the simulator derives it.
func TestFaceLinkKey(t *testing.T) {
	k, err := faceseal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := faceseal.MarshalPublicKey(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := json.Marshal(string(pem))
	face := func(board, extra string) []byte {
		return []byte(`{"board":"` + board + `","terminal":{"id":"POS00042"},"face":{"url":"http://127.0.0.1:8586","platform_key":` +
			string(key) + extra + `}}`)
	}
	c, err := Parse(face("sim", ""))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte(SimFaceMasterKey))
	m.Write([]byte("POS00042"))
	if got := c.Settings().FaceLinkKey; !bytes.Equal(got, m.Sum(nil)) {
		t.Fatalf("sim face link key %x", got)
	}
	if c, err := Parse(face("sim", `,"key":"00112233445566778899aabbccddeeff"`)); err != nil ||
		hex.EncodeToString(c.Settings().FaceLinkKey) != "00112233445566778899aabbccddeeff" {
		t.Fatalf("face.key: %v", err)
	}
	for _, bad := range []string{`,"key":"zz"`, `,"key":"00112233"`} {
		if _, err := Parse(face("sim", bad)); err == nil || !strings.Contains(err.Error(), "face.key") || strings.Contains(err.Error(), "0011") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := Parse(face("rpi4", "")); err == nil || !strings.Contains(err.Error(), "face.key is required") {
		t.Fatalf("real board without face.key: %v", err)
	}
	if c, _ := Parse([]byte(`{}`)); c.Settings().FaceLinkKey != nil {
		t.Fatal("a face link key without face pay")
	}
}

// TestConfigFileMistakes: the mistakes made by hand in a config file on
// site are reported with the dotted key, or the line and column, the
// engineer must fix, in words rather than Go's type names.
func TestConfigFileMistakes(t *testing.T) {
	for _, tc := range []struct {
		file    string
		want    []string
		notWant []string
	}{
		{`{"bord":"sim"}`, []string{`unknown key "bord"`, `did you mean "board"?`}, nil},
		{`{"host":{"adr":"10.0.0.5:5000"}}`, []string{`unknown key "host.adr"`, `did you mean "host.addr"?`}, nil},
		{`{"wallet":{"mpm":{"ctiy":"BEIJING"}}}`, []string{`unknown key "wallet.mpm.ctiy"`, `"wallet.mpm.city"`}, nil},
		{`{"msr":{"kind":"serial","prt":"/dev/ttyUSB0"}}`, []string{`unknown key "msr.prt"`, `"msr.port"`}, nil},
		{`{"host":{"xyzzy":1}}`, []string{`unknown key "host.xyzzy"`, "host takes addr, dialect, tpdu"}, []string{"did you mean"}},
		{"{\n  \"board\": \"sim\",\n  \"host\": {\n    \"addr\": \"127.0.0.1:8583\"\n  }\n  \"api\": {}\n}", []string{"line 6, column 3"}, nil},
		{`{"board":"sim",}`, []string{"line 1, column 16"}, nil},
		{"{\"board\": \"sim\"\n", []string{"ends before the JSON object is closed"}, nil},
		{"", []string{"the file is empty"}, []string{"EOF"}},
		{" \n\t", []string{"the file is empty"}, []string{"EOF"}},
		{`{"terminal":{"id":12345678}}`, []string{"terminal.id", "a number", "a string in quotes"}, []string{"Go struct", "unmarshal"}},
		{`{"watchdog":{"enabled":"yes"}}`, []string{"watchdog.enabled", "true or false"}, []string{"Go struct", "unmarshal"}},
		{`{"terminal":{"currencies":"CNY"}}`, []string{"terminal.currencies", "a list"}, []string{"Go struct", "unmarshal"}},
		{`{"host":"127.0.0.1:8583"}`, []string{"config: host: a string", "an object"}, []string{"Go struct", "unmarshal", "config.HostConfig"}},
		{`{"host":{"advice_rate":"fast"}}`, []string{"host.advice_rate", "a number"}, []string{"Go struct", "unmarshal"}},
		{`[]`, []string{"one JSON object"}, []string{"Go value", "unmarshal"}},
		{`{"risk":{"max_amont":{"swipe":1}}}`, []string{`unknown key "risk.max_amont"`, `did you mean "risk.max_amount"?`}, nil},
		{`{"risk":{"offline":{"floor":1}}}`, []string{`unknown key "risk.offline.floor"`, "risk.offline takes enabled, floor_limit"}, nil},
		{`{"risk":{"max_amount":{"swipe":"1"}}}`, []string{"risk.max_amount.swipe: a string, where a number is expected"}, []string{"Go struct", "unmarshal"}},
	} {
		_, err := Parse([]byte(tc.file))
		if err == nil {
			t.Errorf("%q accepted", tc.file)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "config: ") {
			t.Errorf("%q: %q has no config: prefix", tc.file, msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q: %q does not say %q", tc.file, msg, w)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(msg, w) {
				t.Errorf("%q: %q says %q", tc.file, msg, w)
			}
		}
	}
}
