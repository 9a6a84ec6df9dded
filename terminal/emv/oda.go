package emv

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"

	cemv "posd/crypto/emv"
)

// odaMethod is the offline data authentication method chosen.
type odaMethod int

const (
	odaNone odaMethod = iota
	odaSDA
	odaDDA
	odaCDA
)

// errODA marks a failure of offline data authentication: the TVR says
// so and the transaction goes on.
var errODA = errors.New("emv: offline data authentication failed")

// pan returns the PAN digits (from 5A, else from track 2 equivalent).
func (st *txnState) pan() string {
	if v := st.icc[0x5A]; v != nil {
		d, _ := cnString(v)
		return d
	}
	if v := st.icc[0x57]; v != nil {
		s := nibbles(v)
		if i := bytes.IndexByte([]byte(s), 'D'); i > 0 {
			return s[:i]
		}
	}
	return ""
}

// chooseODA picks the method both sides support: CDA, then DDA, then SDA
// (book 3 section 10.3).
func (st *txnState) chooseODA() odaMethod {
	aip, caps := st.aip(), st.caps()
	switch {
	case aip[0]&0x01 != 0 && caps[2]&0x08 != 0:
		return odaCDA
	case aip[0]&0x20 != 0 && caps[2]&0x40 != 0:
		return odaDDA
	case aip[0]&0x40 != 0 && caps[2]&0x80 != 0:
		return odaSDA
	}
	return odaNone
}

// oda performs SDA or DDA, or recovers the keys for CDA, setting the TVR
// and TSI bits of each outcome. Only a transport failure or cancellation
// is returned.
func (st *txnState) oda() error {
	m := st.chooseODA()
	failBit := map[odaMethod]bit{odaSDA: tvrSDAFailed, odaDDA: tvrDDAFailed, odaCDA: tvrCDAFailed}[m]
	switch m {
	case odaNone:
		st.tvr.set(tvrODANotPerformed)
		return nil
	case odaSDA:
		st.tvr.set(tvrSDASelected)
	}
	st.tsi.set(tsiODA)
	err := st.odaSteps(m)
	if err == nil {
		if m == odaCDA {
			st.cda = true
		}
		st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: offline data authentication", slog.Int("method", int(m)), slog.Bool("ok", true))
		return nil
	}
	if errors.Is(err, ErrCardRemoved) || errors.Is(err, ErrCancelled) {
		return err
	}
	st.tvr.set(failBit)
	st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: offline data authentication", slog.Int("method", int(m)), slog.String("error", err.Error()))
	return nil
}

func (st *txnState) odaSteps(m odaMethod) error {
	ipk, err := st.recoverIssuer()
	if err != nil {
		return err
	}
	static, err := st.staticData()
	if err != nil {
		return err
	}
	if m == odaSDA {
		ssad := st.icc[0x93]
		if ssad == nil {
			st.tvr.set(tvrICCDataMissing)
			return fmt.Errorf("%w: no signed static application data", errODA)
		}
		s, err := cemv.VerifySSAD(ipk.PublicKey, ssad, static)
		if err != nil {
			return fmt.Errorf("%w: %w", errODA, err)
		}
		st.icc[0x9F45] = s.DAC[:]
		return nil
	}
	if _, err := st.recoverICC(ipk, static); err != nil {
		return err
	}
	if m == odaDDA {
		return st.dda()
	}
	return nil
}

// recoverIssuer recovers and checks the issuer public key (book 2
// section 5.3/6.3), setting "ICC data missing" for absent objects.
func (st *txnState) recoverIssuer() (*cemv.IssuerPublicKey, error) {
	if st.issuerKey != nil {
		return st.issuerKey, nil
	}
	idx, cert, exp := st.icc[0x8F], st.icc[0x90], st.icc[0x9F32]
	if len(idx) != 1 || cert == nil || exp == nil {
		st.tvr.set(tvrICCDataMissing)
		return nil, fmt.Errorf("%w: CA key index, issuer certificate or exponent missing", errODA)
	}
	rid := st.icc[0x84]
	if len(rid) < 5 {
		return nil, fmt.Errorf("%w: no RID", errODA)
	}
	capk, err := st.cfg.capks.Lookup(rid[:5], idx[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errODA, err)
	}
	if capk.Expired(st.date) {
		return nil, fmt.Errorf("%w: CA key %X/%02X expired", errODA, rid[:5], idx[0])
	}
	if st.sink != nil {
		st.sink.recordCAPK(*capk)
	}
	ipk, err := cemv.RecoverIssuerPublicKey(capk.PublicKey, cert, st.icc[0x92], exp)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errODA, err)
	}
	if !ipk.MatchesPAN(st.pan()) {
		return nil, fmt.Errorf("%w: issuer identifier does not match the PAN", errODA)
	}
	if expired, err := ipk.Expiry.ExpiredOn(st.term[0x9A]); err != nil || expired {
		return nil, fmt.Errorf("%w: issuer certificate expired or its date invalid", errODA)
	}
	st.issuerKey = ipk
	return ipk, nil
}

// staticData is the static data to be authenticated: the records the AFL
// marks, then the AIP when the tag list (9F4A) names it; a tag list
// naming anything else, or a marked record that is not a 70 template,
// fails (book 3 section 10.3).
func (st *txnState) staticData() ([]byte, error) {
	if st.staticBad {
		return nil, fmt.Errorf("%w: a record for offline data authentication is not a 70 template", errODA)
	}
	out := bytes.Clone(st.static)
	if tl := st.icc[0x9F4A]; tl != nil {
		if !bytes.Equal(tl, []byte{0x82}) {
			return nil, fmt.Errorf("%w: static data authentication tag list names other than the AIP", errODA)
		}
		out = append(out, st.icc[0x82]...)
	}
	return out, nil
}

// recoverICC recovers and checks the ICC public key (book 2 section 6.4).
func (st *txnState) recoverICC(ipk *cemv.IssuerPublicKey, static []byte) (*cemv.ICCPublicKey, error) {
	if st.iccKey != nil {
		return st.iccKey, nil
	}
	cert, exp := st.icc[0x9F46], st.icc[0x9F47]
	if cert == nil || exp == nil {
		st.tvr.set(tvrICCDataMissing)
		return nil, fmt.Errorf("%w: ICC certificate or exponent missing", errODA)
	}
	k, err := cemv.RecoverICCPublicKey(ipk.PublicKey, cert, st.icc[0x9F48], exp, static)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errODA, err)
	}
	if !k.MatchesPAN(st.pan()) {
		return nil, fmt.Errorf("%w: ICC certificate PAN differs from the application PAN", errODA)
	}
	if expired, err := k.Expiry.ExpiredOn(st.term[0x9A]); err != nil || expired {
		return nil, fmt.Errorf("%w: ICC certificate expired or its date invalid", errODA)
	}
	st.iccKey = k
	return k, nil
}

// dda is dynamic data authentication: INTERNAL AUTHENTICATE with the DDOL
// data and the signature's check (book 2 section 6.5).
func (st *txnState) dda() error {
	ddolBytes := st.icc[0x9F49]
	if ddolBytes == nil {
		ddolBytes = st.aid.DefaultDDOL
	}
	if ddolBytes == nil {
		st.tvr.set(tvrICCDataMissing)
		return fmt.Errorf("%w: no DDOL", errODA)
	}
	ddol, err := parseDOL(ddolBytes)
	if err != nil || !dolHas(ddol, 0x9F37) {
		return fmt.Errorf("%w: DDOL without the unpredictable number", errODA)
	}
	data := st.dolData(ddol)
	// DDOL data over 255 bytes is ErrFormat from send, before anything
	// is sent: DDA failed, not the transaction (see the package doc).
	resp, sw, err := st.send("INTERNAL AUTHENTICATE", 0x00, 0x88, 0x00, 0x00, data, case4)
	if err != nil {
		return err
	}
	if sw != 0x9000 {
		return fmt.Errorf("%w: INTERNAL AUTHENTICATE answered %04X", errODA, sw)
	}
	objs, err := parseTLV(resp)
	if err != nil || len(objs) != 1 {
		return fmt.Errorf("%w: INTERNAL AUTHENTICATE response malformed", errODA)
	}
	var sdad []byte
	switch objs[0].tag {
	case 0x80:
		sdad = objs[0].value
	case 0x77:
		if o, ok := find(objs[0].children, 0x9F4B); ok {
			sdad = o.value
		}
	}
	if sdad == nil {
		return fmt.Errorf("%w: no signed dynamic application data", errODA)
	}
	d, err := cemv.VerifySDAD(st.iccKey.PublicKey, sdad, data)
	if err != nil {
		return fmt.Errorf("%w: %w", errODA, err)
	}
	if d.ICCDynamicNumber != nil {
		st.icc[0x9F4C] = bytes.Clone(d.ICCDynamicNumber)
	}
	return nil
}

// verifyCDA checks the signed dynamic application data of a GENERATE AC
// response (book 2 section 6.6.2): signature under the ICC key with the
// unpredictable number, CID equal to the response's, and the transaction
// data hash over the PDOL, CDOL1 (and CDOL2) data and the response's
// objects other than the signature, as received.
func (st *txnState) verifyCDA(ac map[tag][]byte, raw [][]byte, second bool) error {
	sdad := ac[0x9F4B]
	if sdad == nil || st.iccKey == nil {
		return fmt.Errorf("%w: no signed dynamic application data", errODA)
	}
	d, err := cemv.VerifyCDA(st.iccKey.PublicKey, sdad, st.term[0x9F37])
	if err != nil {
		return fmt.Errorf("%w: %w", errODA, err)
	}
	if d.CID != ac[0x9F27][0] {
		return fmt.Errorf("%w: CID in the signature differs", errODA)
	}
	var objs []byte
	for _, r := range raw {
		if bytes.HasPrefix(r, []byte{0x9F, 0x4B}) {
			continue
		}
		objs = append(objs, r...)
	}
	var cdol2 []byte
	if second {
		cdol2 = st.cdol2Data
	}
	want := cemv.CDATransactionDataHash(st.pdolData, st.cdol1Data, cdol2, objs)
	if subtle.ConstantTimeCompare(want, d.TxnDataHash) != 1 {
		return fmt.Errorf("%w: transaction data hash differs", errODA)
	}
	st.icc[0x9F26] = bytes.Clone(d.AC)
	st.icc[0x9F4C] = bytes.Clone(d.ICCDynamicNumber)
	return nil
}

// fdda is the fast DDA of kernels 3 and 7: the signed dynamic application
// data returned with the cryptogram, over the unpredictable number, and
// for fDDA version 01 (9F69 present) the amount, the currency and the
// card authentication related data.
func (st *txnState) fdda() error {
	ipk, err := st.recoverIssuer()
	if err != nil {
		return err
	}
	static, err := st.staticData()
	if err != nil {
		return err
	}
	icc, err := st.recoverICC(ipk, static)
	if err != nil {
		return err
	}
	sdad := st.icc[0x9F4B]
	if sdad == nil {
		st.tvr.set(tvrICCDataMissing)
		return fmt.Errorf("%w: no signed dynamic application data", errODA)
	}
	tdd := bytes.Clone(st.term[0x9F37])
	if cad := st.icc[0x9F69]; len(cad) > 0 && cad[0] == 0x01 {
		tdd = append(tdd, st.term[0x9F02]...)
		tdd = append(tdd, st.term[0x5F2A]...)
		tdd = append(tdd, cad...)
	}
	d, err := cemv.VerifySDAD(icc.PublicKey, sdad, tdd)
	if err != nil {
		return fmt.Errorf("%w: %w", errODA, err)
	}
	if d.ICCDynamicNumber != nil {
		st.icc[0x9F4C] = bytes.Clone(d.ICCDynamicNumber)
	}
	return nil
}

// cnString reads compressed numeric digits up to the F padding.
func cnString(b []byte) (string, bool) {
	s := nibbles(b)
	if i := bytes.IndexByte([]byte(s), 'F'); i >= 0 {
		s = s[:i]
	}
	return s, digits(s)
}

// nibbles returns b's nibbles as upper-case hex digits.
func nibbles(b []byte) string {
	const hexd = "0123456789ABCDEF"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, hexd[x>>4], hexd[x&0x0F])
	}
	return string(out)
}
