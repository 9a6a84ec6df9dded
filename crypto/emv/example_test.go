package emv_test

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"

	"posd/crypto/emv"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// The issuer's side of an online authorisation: the ICC master key from
// the issuer master key, the session key of the transaction's ATC, the
// ARQC check and the ARPC (Visa CVN 18 style: common session key, padding
// method 2, ARPC method 2). Values from pyemv's Visa CVN 18 test.
func Example_issuer() {
	imk := mustHex("0123456789ABCDEFFEDCBA9876543210")
	mk, _ := emv.DeriveICCMasterKey(imk, "1234567890123456", "00", emv.OptionAuto)
	sk, _ := emv.DeriveSessionKey(emv.SKDCommon, mk, mustHex("001C"), nil)
	data := mustHex("000000004000" + "000000000000" + "0124" + "8000048000" + "0124" + "191105" + "01" +
		"52BF4585" + "1800" + "001C" + "06011203A0B800")
	arqc := mustHex("7A788EA6B8A3E733")
	if err := emv.VerifyAC(sk, data, emv.Padding2, arqc); err != nil {
		fmt.Println("decline:", err)
		return
	}
	arpc, _ := emv.ARPCMethod2(sk, arqc, mustHex("00000000"), nil)
	fmt.Printf("ARPC %X\n", arpc)
	// Output: ARPC 9AF514C1
}

// A simulated card's chain under a test CA, and the terminal's offline
// data authentication of it (CDA).
func Example_chain() {
	rnd := rand.NewChaCha8([32]byte{42}) // a fixed seed: the same keys every run
	ca, _ := emv.NewTestCA(rnd, [5]byte{0xA0, 0, 0, 0, 0x99}, 0xE1, 1152, 3)
	issuerKey, _ := emv.GenerateKey(rnd, 1024, 3)
	iccKey, _ := emv.GenerateKey(rnd, 768, 3)

	// Personalisation.
	id, _ := emv.IssuerIDFromPAN("5413330089020011", 6)
	issuerCert, issuerRem, _ := ca.SignIssuerCert(&emv.IssuerPublicKey{
		PublicKey: issuerKey.PublicKey, IssuerID: id, Expiry: emv.MonthYear{0x12, 0x30}, SerialNumber: [3]byte{0, 0, 1}})
	static := mustHex("5A0854133300890200115F24033012317C00") // records, then the AIP
	pan, _ := emv.PANField("5413330089020011")
	iccCert, iccRem, _ := emv.SignICCCert(issuerKey, &emv.ICCPublicKey{
		PublicKey: iccKey.PublicKey, PAN: pan, Expiry: emv.MonthYear{0x12, 0x29}}, static)

	// A GENERATE AC with CDA.
	un := mustHex("8B55633B")
	txnHash := emv.CDATransactionDataHash(nil, mustHex("000000001000"), nil, mustHex("9F270180"))
	sdad, _ := emv.SignCDA(iccKey, &emv.DynamicData{ICCDynamicNumber: mustHex("0102030405060708"),
		CID: 0x80, AC: mustHex("CAFEBABEDEADBEEF"), TxnDataHash: txnHash}, un)

	// The terminal.
	store := emv.NewCAPKStore()
	_ = store.Add(ca.CAPK())
	capk, _ := store.Lookup(mustHex("A000000099"), 0xE1)
	ipk, err := emv.RecoverIssuerPublicKey(capk.PublicKey, issuerCert, issuerRem, []byte{3})
	if err != nil || !ipk.MatchesPAN("5413330089020011") {
		fmt.Println("issuer certificate:", err)
		return
	}
	icc, err := emv.RecoverICCPublicKey(ipk.PublicKey, iccCert, iccRem, []byte{3}, static)
	if err != nil || !icc.MatchesPAN("5413330089020011") {
		fmt.Println("ICC certificate:", err)
		return
	}
	d, err := emv.VerifyCDA(icc.PublicKey, sdad, un)
	if err != nil {
		fmt.Println("CDA:", err)
		return
	}
	expired, _ := icc.Expiry.ExpiredOn(mustHex("250506"))
	fmt.Printf("issuer key %d bytes, ICC key %d bytes, expired %v\n", len(ipk.Modulus), len(icc.Modulus), expired)
	fmt.Printf("CID %02X AC %X hash ok %v\n", d.CID, d.AC, hex.EncodeToString(d.TxnDataHash) == hex.EncodeToString(txnHash))
	// Output:
	// issuer key 128 bytes, ICC key 96 bytes, expired false
	// CID 80 AC CAFEBABEDEADBEEF hash ok true
}
