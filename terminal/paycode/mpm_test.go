package paycode

import (
	"errors"
	"strings"
	"testing"
)

// specMPM is the example payload of the EMVCo merchant-presented mode
// specification (v1.0/1.1 annex), as reproduced by public EMV QR
// libraries' tests; its CRC is A13A.
const specMPM = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A"

func TestCRC16CheckValue(t *testing.T) {
	if got := crc16([]byte("123456789")); got != 0x29B1 {
		t.Fatalf("crc16 = %04X, want 29B1", got)
	}
}

func TestParseMPMSpecExample(t *testing.T) {
	m, err := ParseMPM(specMPM)
	if err != nil {
		t.Fatal(err)
	}
	if m.Initiation != "12" || m.MCC != "4111" || m.Currency != "156" || m.Amount != "23.72" ||
		m.Country != "CN" || m.Name != "BEST TRANSPORT" || m.City != "BEIJING" || m.CRC != "A13A" ||
		m.Bill != "" || m.Terminal != "A6008667" {
		t.Fatalf("parsed %+v", m)
	}
	if len(m.Accounts) != 2 || m.Accounts[0].ID != "29" || m.Accounts[0].GUI != "D15600000000" ||
		m.Accounts[1].GUI != "D15600000001" || m.Accounts[1].MerchantID != "" {
		t.Fatalf("accounts %+v", m.Accounts)
	}
	if minor, err := m.Minor(); err != nil || minor != 2372 {
		t.Fatalf("Minor = %d, %v", minor, err)
	}
	// The language template 64 counts its Chinese values in characters.
	var alt []Field
	for _, f := range m.Fields {
		if f.ID == "64" {
			alt = f.Sub
		}
	}
	if len(alt) != 3 || alt[1].Value != "最佳运输" || alt[2].Value != "北京" {
		t.Fatalf("template 64 %+v", alt)
	}
	if again := encodeFields(m.Fields); again != specMPM {
		t.Fatalf("fields re-encode to %s", again)
	}
}

func testMerchant() Merchant {
	return Merchant{
		Name: "POSD TEST SHOP", City: "SHANGHAI", Country: "CN", MCC: "5411", Terminal: "T0000001",
		Accounts: []Account{
			{GUI: GUIUnionPay, MerchantID: "898310048161234"},
			{GUI: GUIWeChat, MerchantID: "1900000109"},
			{GUI: GUIAlipay, MerchantID: "2088102146225135"},
		},
	}
}

func TestBuildMPMRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		cur    string
		amount int64
		want   string
	}{{"CNY", 1234, "12.34"}, {"CNY", 5, "0.05"}, {"156", 100000, "1000.00"}, {"JPY", 1234, "1234"}, {"HKD", 999999999999, "9999999999.99"}} {
		s, err := BuildMPM(testMerchant(), tc.amount, tc.cur, "INV000123")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, "000201010212") || !strings.Contains(s, "54"+twoDigits(len(tc.want))+tc.want) {
			t.Fatalf("payload %s", s)
		}
		m, err := ParseMPM(s)
		if err != nil {
			t.Fatalf("ParseMPM(%s): %v", s, err)
		}
		if m.Amount != tc.want || m.Name != "POSD TEST SHOP" || m.City != "SHANGHAI" || m.Bill != "INV000123" ||
			m.Terminal != "T0000001" || len(m.Accounts) != 3 || m.Accounts[0].ID != "26" ||
			m.Accounts[2].ID != "28" || m.Accounts[1].GUI != GUIWeChat || m.Accounts[2].MerchantID != "2088102146225135" {
			t.Fatalf("parsed %+v", m)
		}
		if minor, err := m.Minor(); err != nil || minor != tc.amount {
			t.Fatalf("Minor = %d, %v", minor, err)
		}
		if c := Classify(s); c.Kind != KindUnknown {
			t.Fatalf("a merchant code classified as %s", c.Kind)
		}
	}
}

func twoDigits(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

func TestBuildMPMRefuses(t *testing.T) {
	long := strings.Repeat("X", 26)
	tests := map[string]func(*Merchant) (int64, string, string){
		"zero amount":       func(m *Merchant) (int64, string, string) { return 0, "CNY", "R1" },
		"negative amount":   func(m *Merchant) (int64, string, string) { return -5, "CNY", "R1" },
		"huge amount":       func(m *Merchant) (int64, string, string) { return 1 << 62, "CNY", "R1" },
		"unknown currency":  func(m *Merchant) (int64, string, string) { return 1, "XXX", "R1" },
		"no reference":      func(m *Merchant) (int64, string, string) { return 1, "CNY", "" },
		"long reference":    func(m *Merchant) (int64, string, string) { return 1, "CNY", long },
		"no name":           func(m *Merchant) (int64, string, string) { m.Name = ""; return 1, "CNY", "R1" },
		"long name":         func(m *Merchant) (int64, string, string) { m.Name = long; return 1, "CNY", "R1" },
		"chinese name":      func(m *Merchant) (int64, string, string) { m.Name = "最佳运输"; return 1, "CNY", "R1" },
		"long city":         func(m *Merchant) (int64, string, string) { m.City = "ABCDEFGHIJKLMNOP"; return 1, "CNY", "R1" },
		"bad country":       func(m *Merchant) (int64, string, string) { m.Country = "cn"; return 1, "CNY", "R1" },
		"bad MCC":           func(m *Merchant) (int64, string, string) { m.MCC = "54A1"; return 1, "CNY", "R1" },
		"no accounts":       func(m *Merchant) (int64, string, string) { m.Accounts = nil; return 1, "CNY", "R1" },
		"account no id":     func(m *Merchant) (int64, string, string) { m.Accounts[0].MerchantID = ""; return 1, "CNY", "R1" },
		"terminal too long": func(m *Merchant) (int64, string, string) { m.Terminal = long; return 1, "CNY", "R1" },
		"too many accounts": func(m *Merchant) (int64, string, string) {
			for range 30 {
				m.Accounts = append(m.Accounts, Account{GUI: GUIUnionPay, MerchantID: "1"})
			}
			return 1, "CNY", "R1"
		},
		"over 512": func(m *Merchant) (int64, string, string) {
			m.Accounts = nil
			for range 10 {
				m.Accounts = append(m.Accounts, Account{GUI: strings.Repeat("G", 32), MerchantID: strings.Repeat("1", 30)})
			}
			return 1, "CNY", "R1"
		},
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			m := testMerchant()
			amount, cur, ref := f(&m)
			if s, err := BuildMPM(m, amount, cur, ref); !errors.Is(err, ErrMerchant) {
				t.Fatalf("BuildMPM = %q, %v", s, err)
			}
		})
	}
}

func TestParseMPMRefuses(t *testing.T) {
	good, err := BuildMPM(testMerchant(), 1234, "CNY", "INV1")
	if err != nil {
		t.Fatal(err)
	}
	body := good[:len(good)-4]
	withCRC := func(b string) string { return b + "6304" + hex4(crc16([]byte(b+"6304"))) }
	tests := map[string]string{
		"empty":          "",
		"bad CRC":        body + "0000",
		"no CRC":         body[:len(body)-4],
		"changed amount": strings.Replace(good, "540512.34", "540512.35", 1),
		"no 00 first":    withCRC("010212000201" + strings.TrimSuffix(strings.TrimPrefix(body, "000201010212"), "6304")),
		"version 02":     withCRC("000202" + strings.TrimSuffix(strings.TrimPrefix(body, "000201"), "6304")),
		"truncated":      good[:20],
		"letters in id":  withCRC("0002010A0212"),
		"length runs on": withCRC("00020101991"),
		"no account":     withCRC("00020101021252045411530315654041.005802CN5902AB6002CD"),
		"no MCC":         withCRC("000201010212261400102A0000003335303156540412.35802CN5902AB6002CD"),
		"bad initiation": withCRC("000201010213261400102A0000003335204541153031565802CN5902AB6002CD"),
		"field twice":    withCRC("000201010212261400102A00000033352045411520454115303156" + "5802CN5902AB6002CD"),
		"bad amount":     withCRC("000201010212261400102A0000003335204541153031565404-1.05802CN5902AB6002CD"),
		"empty field":    withCRC("00020101021259005802CN"),
		"binary":         "\xff\xfe0002",
		"too long":       strings.Repeat("0", MaxMPM+1),
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseMPM(s); !errors.Is(err, ErrMPM) {
				t.Fatalf("ParseMPM = %v", err)
			}
		})
	}
	if _, err := ParseMPM(body + "0000"); !errors.Is(err, ErrCRC) {
		t.Fatalf("bad CRC: %v", err)
	}
	// The CRC is read in either case.
	if _, err := ParseMPM(strings.Replace(specMPM, "A13A", "a13a", 1)); err != nil {
		t.Fatal(err)
	}
}

func hex4(v uint16) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[v>>12], digits[v>>8&15], digits[v>>4&15], digits[v&15]})
}
