package dukpt_test

import (
	"fmt"

	"posd/crypto/dukpt"
	"posd/crypto/tdes"
)

// A host decrypting a PIN block: derive the transaction key from the BDK
// and the KSN that came with the message, then its PIN variant. Values are
// those of ANSI X9.24-1:2009 A.4.
func ExampleTDESDeriveKey() {
	bdk := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10}
	ksn, _ := dukpt.ParseKSN("FFFF9876543210E00001")
	key, err := dukpt.TDESDeriveKey(bdk, ksn)
	if err != nil {
		fmt.Println(err)
		return
	}
	pinKey, _ := dukpt.TDESVariant(key, dukpt.VariantPIN)
	block, _ := tdes.NewCipher(pinKey)
	enc := []byte{0x1B, 0x9C, 0x18, 0x45, 0xEB, 0x99, 0x3A, 0x7A}
	plain := make([]byte, 8)
	block.Decrypt(plain, enc)
	fmt.Printf("%X\n", plain)
	// Output: 041274EDCBA9876F
}

// A terminal: load the initial key once, then take one key per
// transaction; persist the state (wrapped) before using the key.
func ExampleNewAESOriginator() {
	ik := []byte{0x12, 0x73, 0x67, 0x1E, 0xA2, 0x6A, 0xC2, 0x9A, 0xFA, 0x4D, 0x10, 0x84, 0x12, 0x76, 0x52, 0xA1}
	iksn, _ := dukpt.ParseKSN("123456789012345600000000")
	o, err := dukpt.NewAESOriginator(ik, iksn)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer o.Wipe()
	ksn, txnKey, err := o.Next()
	if err != nil {
		fmt.Println(err)
		return
	}
	state, _ := o.MarshalBinary() // store wrapped under the device key
	_ = state
	pinKey, _ := dukpt.AESWorkingKey(txnKey, ksn, dukpt.UsagePIN, dukpt.KeyAES128)
	fmt.Printf("%X %X %d\n", ksn, txnKey, len(pinKey))
	// Output: 123456789012345600000001 4F21B565BAD9835E112B6465635EAE44 16
}
