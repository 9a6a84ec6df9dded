package emv

import (
	"math/rand/v2"
	"sync"
	"testing"

	"bytes"
	"encoding/hex"
	cemv "posd/crypto/emv"
	"strings"

	"github.com/moov-io/bertlv"
)

func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// tlv encodes a primitive object (hex tag).
func tlv(t string, v []byte) []byte {
	b, err := bertlv.Encode([]bertlv.TLV{bertlv.NewTag(t, v)})
	if err != nil {
		panic(err)
	}
	return b
}

// tpl wraps objects in a constructed template.
func tpl(t string, parts ...[]byte) []byte {
	v := bytes.Join(parts, nil)
	tb := h(t)
	var l []byte
	switch {
	case len(v) < 0x80:
		l = []byte{byte(len(v))}
	case len(v) < 0x100:
		l = []byte{0x81, byte(len(v))}
	default:
		l = []byte{0x82, byte(len(v) >> 8), byte(len(v))}
	}
	return append(append(tb, l...), v...)
}

// testParams is the kernel configuration of the tests.
const testParams = `{
  "terminal": {"type": "22", "capabilities": "E0F8C8", "additional_capabilities": "6000F0A001",
    "country": "156", "default_currency": "156", "currencies": {"156": 2, "840": 2},
    "ifd_serial": "TEST0001", "terminal_id": "POS00001", "merchant_category": "5999"},
  "aids": [
    {"aid": "A0000000031010", "label": "VISA", "partial_selection": true, "interfaces": ["contact", "contactless"],
     "kernel": 3, "app_version": "0096", "tac_denial": "0010000000", "tac_online": "DC4004F800", "tac_default": "DC4000A800",
     "default_ddol": "9F3704", "default_tdol": "9F02065F2A029A039C0195059F3704", "ttq": "36004000",
     "random_selection": {"target_percent": 0, "max_target_percent": 0},
     "limits": {"156": {"floor_limit": 50000, "random_threshold": 10000, "contactless_transaction_limit": 500000,
       "contactless_cvm_limit": 100000, "contactless_floor_limit": 50000}}},
    {"aid": "A0000000041010", "label": "MASTERCARD", "partial_selection": false, "interfaces": ["contact", "contactless"],
     "kernel": 2, "app_version": "0002", "tac_denial": "0000000000", "tac_online": "FC50BCF800", "tac_default": "FC50BCA000",
     "cvm_capability_cvm_required": "60", "cvm_capability_no_cvm_required": "08",
     "limits": {"156": {"floor_limit": 50000, "contactless_transaction_limit": 500000, "contactless_transaction_limit_cdcvm": 2000000,
       "contactless_cvm_limit": 100000, "contactless_floor_limit": 50000}}},
    {"aid": "A000000333010101", "label": "UnionPay", "partial_selection": true, "interfaces": ["contact", "contactless"],
     "kernel": 7, "app_version": "0030", "tac_denial": "0010000000", "tac_online": "DC4004F800", "tac_default": "DC4000A800",
     "default_ddol": "9F3704", "ttq": "36000000",
     "limits": {"156": {"floor_limit": 50000, "contactless_transaction_limit": 500000, "contactless_cvm_limit": 100000,
       "contactless_floor_limit": 50000}}}
  ]
}`

// The test PKI: one CA, one issuer, one ICC key, made once.
type testPKI struct {
	ca     *cemv.TestCA
	issuer *cemv.PrivateKey
	icc    *cemv.PrivateKey
	pin    *cemv.PrivateKey
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

func getPKI(t testing.TB) *testPKI {
	pkiOnce.Do(func() {
		rnd := rand.NewChaCha8([32]byte{7})
		var err error
		if pki.ca, err = cemv.NewTestCA(rnd, [5]byte{0xA0, 0, 0, 0, 0x03}, 0xF1, 1152, 3); err != nil {
			panic(err)
		}
		if pki.issuer, err = cemv.GenerateKey(rnd, 1024, 3); err != nil {
			panic(err)
		}
		if pki.icc, err = cemv.GenerateKey(rnd, 768, 3); err != nil {
			panic(err)
		}
		if pki.pin, err = cemv.GenerateKey(rnd, 768, 65537); err != nil {
			panic(err)
		}
	})
	return &pki
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToUpper(s), strings.ToUpper(sub))
}
