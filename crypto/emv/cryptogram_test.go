package emv

import (
	"errors"
	"testing"
)

func TestVerifyACMismatch(t *testing.T) {
	sk := h(t, "29B33180E567CE38EA4CBC9D753B0E61")
	data := h(t, "0123456789ABCDEF0123456789ABCDEF")
	// knovichikhin/pyemv pyemv/ac.py module example.
	good := h(t, "FA624250B008B59A")
	if err := VerifyAC(sk, data, Padding2, good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{
		h(t, "FA624250B008B59B"),
		good[:7],
		nil,
		append(append([]byte{}, good...), 0),
	} {
		if err := VerifyAC(sk, data, Padding2, bad); !errors.Is(err, ErrCryptogram) {
			t.Errorf("VerifyAC(%X) = %v, want ErrCryptogram", bad, err)
		}
	}
	if err := VerifyAC(sk, data, Padding1, good); !errors.Is(err, ErrCryptogram) {
		t.Errorf("other padding verified: %v", err)
	}
}

func TestCryptogramErrors(t *testing.T) {
	sk := h(t, "29B33180E567CE38EA4CBC9D753B0E61")
	arqc := h(t, "FA624250B008B59A")
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"ac key", second(GenerateAC(sk[:8], nil, Padding2)), ErrKeyLength},
		{"ac 3-key", second(GenerateAC(append(sk, sk[:8]...), nil, Padding2)), ErrKeyLength},
		{"ac padding", second(GenerateAC(sk, nil, Padding(3))), ErrMethod},
		{"verify key", VerifyAC(sk[:8], nil, Padding2, arqc), ErrKeyLength},
		{"arpc1 key", second(ARPCMethod1(sk[:8], arqc, h(t, "3030"))), ErrKeyLength},
		{"arpc1 arqc", second(ARPCMethod1(sk, arqc[:4], h(t, "3030"))), ErrFieldLength},
		{"arpc1 arc", second(ARPCMethod1(sk, arqc, h(t, "303030"))), ErrFieldLength},
		{"arpc2 key", second(ARPCMethod2(nil, arqc, h(t, "00000000"), nil)), ErrKeyLength},
		{"arpc2 arqc", second(ARPCMethod2(sk, arqc[:7], h(t, "00000000"), nil)), ErrFieldLength},
		{"arpc2 csu", second(ARPCMethod2(sk, arqc, h(t, "000000"), nil)), ErrFieldLength},
		{"arpc2 prop", second(ARPCMethod2(sk, arqc, h(t, "00000000"), make([]byte, 9))), ErrFieldLength},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	// An empty message is one block of padding, not an error.
	if _, err := GenerateAC(sk, nil, Padding1); err != nil {
		t.Errorf("empty data: %v", err)
	}
}
