package host

import (
	"fmt"
	"strings"

	"github.com/moov-io/iso8583"
)

// MTIs, 60.1 transaction types, 60.3 network management codes, processing
// codes and reconciliation codes of the CUP messages beyond the sale (see
// the table in CUP's doc).
const (
	CUPMTIAuthorization      = "0100"
	CUPMTIAuthorizationResp  = "0110"
	CUPMTIBatchUpload        = "0320"
	CUPMTIBatchUploadResp    = "0330"
	CUPMTISettlement         = "0500"
	CUPMTISettlementResponse = "0510"

	CUPTxnBalance        = "01"
	CUPTxnPreauth        = "10"
	CUPTxnPreauthVoid    = "11" // 预授权撤销: the cancellation of a pre-authorization
	CUPTxnCompletion     = "20"
	CUPTxnCompletionVoid = "21"
	CUPTxnVoid           = "23"
	CUPTxnRefund         = "25"

	CUPNetSettlement = "201" // settlement; batch upload of one transaction
	CUPNetUploadEnd  = "202" // end of a batch upload after an out-of-balance answer

	CUPProcPreauth = "030000"
	CUPProcReturn  = "200000" // refund, void
	CUPProcBalance = "310000"
	// CUPProcVoidRefund is posd's: CUP has no void of a refund.
	CUPProcVoidRefund = "220000"

	// Reconciliation codes of DE48 (the last digit of each card group).
	CUPReconcileNone     = "0" // in the terminal's 0500
	CUPReconcileBalanced = "1"
	CUPReconcileUneven   = "2"
	CUPReconcileError    = "3"
)

// cupCodes is what tells a kind on the CUP wire: MTI, DE3, DE25, 60.1.
type cupCodes struct{ mti, proc, cond, txn string }

var cupKinds = map[Kind]cupCodes{
	KindPurchase:   {CUPMTIPurchase, ProcGoods, CondNormal, CUPTxnPurchase},
	KindRefund:     {CUPMTIAdvice, CUPProcReturn, CondNormal, CUPTxnRefund},
	KindVoid:       {CUPMTIPurchase, CUPProcReturn, CondNormal, CUPTxnVoid},
	KindPreauth:    {CUPMTIAuthorization, CUPProcPreauth, CondPreauth, CUPTxnPreauth},
	KindBalance:    {CUPMTIPurchase, CUPProcBalance, CondNormal, CUPTxnBalance},
	KindCompletion: {CUPMTIPurchase, ProcGoods, CondPreauth, CUPTxnCompletion},
	KindAdvice:     {CUPMTIAdvice, ProcGoods, CondNormal, CUPTxnAdvice},
}

// cupVoidCodes gives a void's codes by what it voids. CUP's cancellation
// of a pre-authorization is an authorization-class message like the
// pre-authorization (0100), with the void's DE3, DE25 "06" and 60.1 "11".
func cupVoidCodes(orig Kind) cupCodes {
	c := cupKinds[KindVoid]
	switch orig {
	case KindCompletion:
		c.cond, c.txn = CondPreauth, CUPTxnCompletionVoid
	case KindPreauth:
		c.mti, c.cond, c.txn = CUPMTIAuthorization, CondPreauth, CUPTxnPreauthVoid
	case KindRefund:
		c.proc = CUPProcVoidRefund
	}
	return c
}

// cupReversalCodes gives the codes a reversal resends: its original's,
// orig's; of a void, those of the void of voided.
func cupReversalCodes(orig, voided Kind) cupCodes {
	if orig == KindVoid {
		return cupVoidCodes(orKind(voided))
	}
	return cupKinds[orig]
}

// cupReversalKind tells the original of a reversal by its 60.1 and DE3
// (and, of a void, what the void voided): "" when they name none.
func cupReversalKind(txn, proc string) (orig, voided Kind) {
	switch txn {
	case CUPTxnPreauthVoid:
		return KindVoid, KindPreauth
	case CUPTxnCompletionVoid:
		return KindVoid, KindCompletion
	case CUPTxnVoid:
		if proc == CUPProcVoidRefund {
			return KindVoid, KindRefund
		}
		return KindVoid, KindPurchase
	}
	return cupTxnKind(cupReversalOrigs, txn), ""
}

// cupTxnKind gives the kind whose 60.1 is txn among kinds (21, the void
// of a completion, is a void).
func cupTxnKind(kinds []Kind, txn string) Kind {
	if txn == CUPTxnCompletionVoid {
		txn = CUPTxnVoid
	}
	for _, k := range kinds {
		if cupKinds[k].txn == txn {
			return k
		}
	}
	return ""
}

// cupAuthorizationKind gives the kind of a 0100 (or 0110) by its 60.1: a
// pre-authorization or its cancellation, a void.
func cupAuthorizationKind(txn string) Kind {
	if txn == CUPTxnPreauthVoid {
		return KindVoid
	}
	return cupTxnKind([]Kind{KindPreauth}, txn)
}

var (
	cupReversalOrigs = []Kind{KindPurchase, KindRefund, KindPreauth, KindCompletion} // and voids, by cupReversalKind
	cupUploadOrigs   = []Kind{KindPurchase, KindAdvice, KindRefund, KindCompletion}
	cupRefundOrigs   = []Kind{KindPurchase, KindCompletion}
)

// cupRequest is every CUP request beyond the sale, the advice, the
// reversal and network management. Which fields each may carry is checked
// by cupAllowed when it is read.
type cupRequest struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	STAN           string `index:"11"`
	EntryMode      string `index:"22"`
	Condition      string `index:"25"`
	RRN            string `index:"37"`
	AuthCode       string `index:"38"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Additional48   string `index:"48"`
	Currency       string `index:"49"`
	PINBlock       []byte `index:"52"`
	Security       string `index:"53"`
	ICC            []byte `index:"55"`
	KSN            []byte `index:"57"`
	Reserved60     string `index:"60"`
	Original       string `index:"61"`
	Track2Enc      []byte `index:"62"`
	Ref            string `index:"63"`
}

// cupResponse is the answer to a cupRequest.
type cupResponse struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	STAN           string `index:"11"`
	LocalTime      string `index:"12"`
	LocalDate      string `index:"13"`
	Condition      string `index:"25"`
	RRN            string `index:"37"`
	AuthCode       string `index:"38"`
	ResponseCode   string `index:"39"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Additional48   string `index:"48"`
	Currency       string `index:"49"`
	Balance        string `index:"54"`
	ICC            []byte `index:"55"`
	Reserved60     string `index:"60"`
	Ref            string `index:"63"`
}

// The data elements each CUP request may carry (besides MTI, bitmap and
// MAC). The settlement after a batch upload is a 0320 like the upload.
var cupAllowed = map[Kind][]int{
	KindRefund:      {3, 4, 11, 22, 25, 37, 38, 41, 42, 49, 52, 53, 55, 57, 60, 61, 62},
	KindPreauth:     {3, 4, 11, 22, 25, 41, 42, 49, 52, 53, 55, 57, 60, 62},
	KindBalance:     {3, 11, 22, 25, 41, 42, 49, 52, 53, 55, 57, 60, 62},
	KindVoid:        {3, 4, 11, 22, 25, 37, 38, 41, 42, 49, 53, 57, 60, 61},
	KindCompletion:  {3, 4, 11, 22, 25, 37, 38, 41, 42, 49, 53, 57, 60, 61},
	KindSettlement:  {11, 41, 42, 48, 49, 53, 57, 60},
	KindBatchUpload: {3, 4, 11, 22, 25, 37, 38, 41, 42, 49, 53, 57, 60, 61, 63},
}

// cupSettlement48 gives DE48 of a 0500 (and its 0510): the domestic card
// group (debits amount n12, debits count n3, credits amount n12, credits
// count n3, reconciliation code n1) with posd's totals, then the foreign
// card group, always zeros.
func cupSettlement48(t Totals, code string) (string, error) {
	cc, dc, ca, da, err := fmtTotals(t, cupCountDigits, cupAmountDigits)
	if err != nil {
		return "", err
	}
	return da + dc + ca + cc + code + strings.Repeat("0", 30) + code, nil
}

// parseCUPSettlement48 reads what cupSettlement48 wrote: the totals and
// the domestic group's reconciliation code.
func parseCUPSettlement48(s string) (Totals, string, error) {
	if !isDigits(s, 62) {
		return Totals{}, "", fmt.Errorf("%w: field 48 is not 62 digits of totals", ErrMalformed)
	}
	if s[31:61] != strings.Repeat("0", 30) {
		return Totals{}, "", fmt.Errorf("%w: foreign card totals (posd sends none)", ErrMalformed)
	}
	t, err := parseTotals(s[27:30], s[12:15], s[15:27], s[:12], cupCountDigits, cupAmountDigits)
	return t, s[30:31], err
}

// cupOriginal gives DE61 of a request naming its original: 61.1 batch,
// 61.2 STAN, 61.3 date MMDD ("0000" when unknown) and, for a refund
// (posd), 61.4 the original's 60.1.
func cupOriginal(r *Request, orig Kind) (string, error) {
	batch, err := fmtNum(int64(r.OrigBatch), 6, "original batch number")
	if err != nil {
		return "", err
	}
	stan, err := fmtNum(int64(r.OrigSTAN), 6, "original STAN")
	if err != nil {
		return "", err
	}
	date := "0000"
	if !r.OrigTime.IsZero() {
		date = r.OrigTime.Format("0102")
	}
	s := batch + stan + date
	if r.Kind == KindRefund {
		s += cupKinds[orig].txn
	}
	return s, nil
}

// cupWire gives the codes, 60.3 and the original's kind of a request of
// a kind beyond the sale.
func cupWire(r *Request) (codes cupCodes, net string, orig Kind, err error) {
	net = CUPNetFinancial
	switch r.Kind {
	case KindRefund, KindPreauth, KindBalance:
		codes = cupKinds[r.Kind]
		if r.Kind == KindRefund && (hasOrig(r) || r.OrigKind != "") {
			if !hasOrig(r) {
				return codes, net, "", fmt.Errorf("%w: the refund's original is named by its kind only", ErrInvalidRequest)
			}
			orig, err = refundOrig(r.OrigKind)
		} else if hasOrig(r) || r.OrigKind != "" {
			err = fmt.Errorf("%w: only a refund names an original", ErrInvalidRequest)
		}
		return codes, net, orig, err
	case KindVoid, KindCompletion:
		if orig, err = followUpOrig(r.Kind, r.OrigKind); err != nil {
			return codes, net, "", err
		}
		codes = cupKinds[r.Kind]
		if r.Kind == KindVoid {
			codes = cupVoidCodes(orig)
		}
		return codes, net, orig, nil
	case KindSettlement:
		codes = cupCodes{mti: CUPMTISettlement, txn: CUPTxnNetwork}
		net = CUPNetSettlement
		if r.AfterUpload {
			codes.mti, net = CUPMTIBatchUpload, CUPNetUploadEnd
		}
		return codes, net, "", nil
	case KindBatchUpload:
		if orig, err = uploadOrig(r.OrigKind); err != nil {
			return codes, net, "", err
		}
		codes = cupKinds[orig]
		codes.mti = CUPMTIBatchUpload
		return codes, CUPNetSettlement, orig, nil
	}
	return codes, net, "", fmt.Errorf("%w: %q", ErrUnsupported, r.Kind)
}

// encodeKind builds a CUP request of a kind beyond the sale.
func (cupCodec) encodeKind(r *Request) (*iso8583.Message, error) {
	codes, net, orig, err := cupWire(r)
	if err != nil {
		return nil, err
	}
	v := &cupRequest{MTI: codes.mti, ProcessingCode: codes.proc, Condition: codes.cond, TerminalID: r.TerminalID, MerchantID: r.MerchantID, KSN: r.KSN}
	if v.STAN, err = fmtNum(int64(r.STAN), 6, "STAN"); err != nil {
		return nil, err
	}
	if v.Reserved60, err = (cupField60{TxnType: codes.txn, Batch: r.Batch, NetCode: net}).format(); err != nil {
		return nil, err
	}
	if v.Security, err = cupSecurity(cupMode(r), cardPresent(r.Kind) && len(r.Track2Enc) > 0); err != nil {
		return nil, err
	}
	if !cardPresent(r.Kind) {
		if err := noCardData(r); err != nil {
			return nil, err
		}
	}
	if r.Kind == KindSettlement {
		if !isDigits(r.Currency, 3) {
			return nil, fmt.Errorf("%w: currency must be 3 digits", ErrInvalidRequest)
		}
		v.Currency = r.Currency
		if r.AfterUpload {
			v.Additional48, err = fmtNum(int64(r.UploadCount), 4, "upload count")
		} else {
			v.Additional48, err = cupSettlement48(r.Totals, CUPReconcileNone)
		}
		if err != nil {
			return nil, err
		}
		return marshal(cupSpec, v)
	}
	if v.Amount, v.Currency, v.EntryMode, err = financialFields(r); err != nil {
		return nil, err
	}
	if orig != "" {
		if v.RRN, v.AuthCode, err = origRRNAuth(r); err != nil {
			return nil, err
		}
		if v.Original, err = cupOriginal(r, orig); err != nil {
			return nil, err
		}
	}
	switch r.Kind {
	case KindRefund, KindPreauth, KindBalance:
		v.PINBlock, v.ICC, v.Track2Enc = r.PINBlock, r.ICC, r.Track2Enc
	case KindBatchUpload:
		if !validRef(r.Ref) {
			return nil, fmt.Errorf("%w: ref must be 1 to %d digits or letters", ErrInvalidRequest, MaxRef)
		}
		v.Ref = r.Ref
	}
	return marshal(cupSpec, v)
}

// decodeKind reads a CUP request of a kind beyond the sale; kind is what
// its MTI and DE60 say.
func (cupCodec) decodeKind(m *iso8583.Message, kind Kind, f60 cupField60) (Request, error) {
	var v cupRequest
	r := Request{Kind: kind}
	if err := unmarshal(m, &v); err != nil {
		return r, err
	}
	r.TerminalID, r.MerchantID, r.Currency, r.EntryMode = v.TerminalID, v.MerchantID, v.Currency, v.EntryMode
	r.KSN, r.PINBlock, r.ICC, r.Track2Enc = v.KSN, v.PINBlock, v.ICC, v.Track2Enc
	if err := onlyFields(m, kind, cupAllowed[kind]); err != nil {
		return r, err
	}
	mode, err := parseCUPSecurity(v.Security)
	if err != nil {
		return r, err
	}
	if len(r.KSN) != mode.KSNLen() {
		return r, fmt.Errorf("%w: KSN length does not match field 53", ErrMalformed)
	}
	r.Mode, r.Batch = mode, f60.Batch
	if kind == KindSettlement {
		stan, err := parseNum(v.STAN, 6, "STAN")
		if err != nil {
			return r, err
		}
		r.STAN = uint32(stan)
		if !isDigits(v.Currency, 3) {
			return r, fmt.Errorf("%w: currency is not 3 digits", ErrMalformed)
		}
		if f60.NetCode == CUPNetUploadEnd {
			r.AfterUpload = true
			n, err := parseNum(v.Additional48, 4, "upload count")
			r.UploadCount = int(n)
			return r, err
		}
		t, code, err := parseCUPSettlement48(v.Additional48)
		if err == nil && code != CUPReconcileNone {
			err = fmt.Errorf("%w: reconciliation code in a request", ErrMalformed)
		}
		r.Totals = t
		return r, err
	}
	if err := decodeFinancial(&r, v.STAN, v.Amount); err != nil {
		return r, err
	}
	if v.Original != "" {
		if len(v.Original) < 16 {
			return r, fmt.Errorf("%w: field 61 shorter than 16 digits", ErrMalformed)
		}
		batch, _ := parseNum(v.Original[:6], 6, "original batch number")
		stan, _ := parseNum(v.Original[6:12], 6, "original STAN")
		r.OrigBatch, r.OrigSTAN, r.OrigRef = uint32(batch), uint32(stan), v.Original
		switch kind {
		case KindRefund:
			if len(v.Original) == 18 {
				r.OrigKind = cupTxnKind(cupRefundOrigs, v.Original[16:])
			}
		case KindVoid:
			switch {
			case v.ProcessingCode == CUPProcVoidRefund:
				r.OrigKind = KindRefund
			case f60.TxnType == CUPTxnCompletionVoid:
				r.OrigKind = KindCompletion
			case f60.TxnType == CUPTxnPreauthVoid:
				r.OrigKind = KindPreauth
			default:
				r.OrigKind = KindPurchase
			}
		case KindCompletion:
			r.OrigKind = KindPreauth
		case KindBatchUpload:
			r.OrigKind = cupTxnKind(cupUploadOrigs, f60.TxnType)
		}
		if r.OrigKind == "" || (kind != KindRefund && len(v.Original) != 16) {
			return r, fmt.Errorf("%w: field 61 does not name the original of a %s", ErrMalformed, kind)
		}
	} else if kind != KindRefund && kind != KindPreauth && kind != KindBalance {
		return r, fmt.Errorf("%w: field 61 missing", ErrMalformed)
	}
	if err := decodeOrigRRNAuth(&r, v.RRN, v.AuthCode); err != nil {
		return r, err
	}
	if r.Kind == KindRefund && v.Original == "" && (r.OrigRRN != "" || r.OrigAuthCode != "") {
		return r, fmt.Errorf("%w: RRN or authorization code without field 61", ErrMalformed)
	}
	want := cupKinds[kind]
	switch kind {
	case KindVoid:
		want = cupVoidCodes(r.OrigKind)
	case KindBatchUpload:
		want = cupKinds[r.OrigKind]
	}
	if v.ProcessingCode != want.proc || v.Condition != want.cond || (kind == KindVoid && v.MTI != want.mti) {
		return r, fmt.Errorf("%w: MTI, processing or POS condition code of a %s", ErrMalformed, kind)
	}
	if kind == KindBatchUpload {
		if !validRef(v.Ref) {
			return r, fmt.Errorf("%w: field 63 is not a ref", ErrMalformed)
		}
		r.Ref = v.Ref
	}
	return r, nil
}

// encodeKindResponse answers a CUP request of a kind beyond the sale.
func (cupCodec) encodeKindResponse(req *Request, resp *Response, mti, stan, de12, de13 string) (*iso8583.Message, error) {
	codes, net, _, err := cupWire(req)
	if err != nil {
		return nil, err
	}
	v := &cupResponse{
		MTI: mti, ProcessingCode: codes.proc, STAN: stan, LocalTime: de12, LocalDate: de13, Condition: codes.cond,
		ResponseCode: resp.ResponseCode, TerminalID: req.TerminalID, MerchantID: req.MerchantID,
	}
	if v.Reserved60, err = (cupField60{TxnType: codes.txn, Batch: req.Batch, NetCode: net}).format(); err != nil {
		return nil, err
	}
	if req.Kind == KindSettlement {
		if !isDigits(req.Currency, 3) {
			return nil, fmt.Errorf("%w: currency must be 3 digits", ErrInvalidRequest)
		}
		v.Currency = req.Currency
		if req.AfterUpload {
			v.Additional48, err = fmtNum(int64(req.UploadCount), 4, "upload count")
			if err != nil {
				return nil, err
			}
			return marshal(cupSpec, v)
		}
		// DE39 says the host processed it; the reconciliation code says
		// whether the totals matched.
		code := CUPReconcileError
		switch resp.ResponseCode {
		case SettlementBalanced:
			code = CUPReconcileBalanced
		case SettlementOutOfBalance:
			code, v.ResponseCode = CUPReconcileUneven, SettlementBalanced
		}
		if code == CUPReconcileError {
			code = CUPReconcileNone // refused: no reconciliation
		}
		if v.Additional48, err = cupSettlement48(req.Totals, code); err != nil {
			return nil, err
		}
		return marshal(cupSpec, v)
	}
	if v.Amount, v.Currency, _, err = financialFields(req); err != nil {
		return nil, err
	}
	switch req.Kind {
	case KindRefund, KindPreauth, KindBalance, KindVoid, KindCompletion:
		v.RRN, v.AuthCode, v.ICC = resp.RRN, resp.AuthCode, resp.ICC
		if req.Kind == KindBalance && resp.HasBalance {
			if v.Balance, err = fmtBalance(resp.Balance, resp.BalanceCurrency); err != nil {
				return nil, err
			}
		}
	case KindBatchUpload:
		if !validRef(req.Ref) {
			return nil, fmt.Errorf("%w: ref must be 1 to %d digits or letters", ErrInvalidRequest, MaxRef)
		}
		v.Ref = req.Ref
	}
	return marshal(cupSpec, v)
}

// decodeKindResponse reads the answer to a CUP request of a kind beyond
// the sale. It gives the STAN and amount as on the wire.
func (cupCodec) decodeKindResponse(m *iso8583.Message, kind Kind, f60 cupField60) (Response, string, string, error) {
	var v cupResponse
	if err := unmarshal(m, &v); err != nil {
		return Response{}, "", "", err
	}
	r := Response{Kind: kind, TerminalID: v.TerminalID, ResponseCode: v.ResponseCode, AuthCode: v.AuthCode, RRN: v.RRN, ICC: v.ICC}
	if err := responseICC(kind, r.ICC); err != nil {
		return r, "", "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var err error
	if r.Balance, r.BalanceCurrency, r.HasBalance, err = parseBalance(v.Balance); err != nil {
		return r, "", "", err
	}
	if v.Ref != "" {
		if !validRef(v.Ref) {
			return r, "", "", fmt.Errorf("%w: field 63 is not a ref", ErrMalformed)
		}
		r.Ref = v.Ref
	}
	if kind == KindSettlement && f60.NetCode == CUPNetSettlement {
		// The 0510: DE39 (absent: processed) and the reconciliation code.
		_, code, err := parseCUPSettlement48(v.Additional48)
		if err != nil {
			return r, "", "", err
		}
		if r.ResponseCode == "" || r.ResponseCode == SettlementBalanced {
			switch code {
			case CUPReconcileBalanced:
				r.ResponseCode = SettlementBalanced
			case CUPReconcileUneven, CUPReconcileError:
				r.ResponseCode = SettlementOutOfBalance
			default:
				return r, "", "", fmt.Errorf("%w: settlement answered without a reconciliation code", ErrMalformed)
			}
		}
	}
	return r, v.STAN, v.Amount, nil
}

// cupRequestKind tells the kind of a CUP request by its MTI and DE60
// (KindPurchase and KindAdvice for the messages the older code reads).
func cupRequestKind(m *iso8583.Message, mti string) (Kind, cupField60, error) {
	s, _ := m.GetString(DEReserved60)
	f60, err := parseCUPField60(s)
	if err != nil {
		switch mti {
		case CUPMTIPurchase:
			return KindPurchase, f60, nil // reported by the purchase's decoding
		case CUPMTIAdvice:
			return KindAdvice, f60, nil
		}
		return "", f60, err
	}
	var kind Kind
	switch mti {
	case CUPMTIPurchase:
		kind = cupTxnKind([]Kind{KindPurchase, KindVoid, KindBalance, KindCompletion}, f60.TxnType)
	case CUPMTIAdvice:
		kind = cupTxnKind([]Kind{KindAdvice, KindRefund}, f60.TxnType)
		if kind == "" {
			kind = KindAdvice // reported by the advice's decoding
		}
	case CUPMTIAuthorization:
		kind = cupAuthorizationKind(f60.TxnType)
	case CUPMTISettlement:
		if f60.TxnType == CUPTxnNetwork && f60.NetCode == CUPNetSettlement {
			kind = KindSettlement
		}
	case CUPMTIBatchUpload:
		switch {
		case f60.NetCode == CUPNetUploadEnd && f60.TxnType == CUPTxnNetwork:
			kind = KindSettlement
		case f60.NetCode == CUPNetSettlement:
			kind = KindBatchUpload
		}
	}
	if kind == "" {
		return "", f60, fmt.Errorf("%w: transaction type %q, network code %q of a %s", ErrUnsupported, f60.TxnType, f60.NetCode, mti)
	}
	return kind, f60, nil
}

// cupResponseKind tells the kind of a CUP answer by its MTI and DE60; an
// answer without a readable DE60 (a rejection) is taken for the MTI's
// plain kind, or none.
func cupResponseKind(m *iso8583.Message, mti string) (Kind, cupField60, error) {
	s, _ := m.GetString(DEReserved60)
	f60, err := parseCUPField60(s)
	if err != nil {
		switch mti {
		case CUPMTIPurchaseResponse:
			return KindPurchase, f60, nil
		case CUPMTIAdviceResponse:
			return KindAdvice, f60, nil
		case CUPMTIAuthorizationResp:
			return KindPreauth, f60, nil
		}
		return "", f60, nil
	}
	var kind Kind
	switch mti {
	case CUPMTIPurchaseResponse:
		kind = cupTxnKind([]Kind{KindPurchase, KindVoid, KindBalance, KindCompletion}, f60.TxnType)
	case CUPMTIAdviceResponse:
		kind = cupTxnKind([]Kind{KindAdvice, KindRefund}, f60.TxnType)
	case CUPMTIAuthorizationResp:
		kind = cupAuthorizationKind(f60.TxnType)
	case CUPMTISettlementResponse:
		if f60.NetCode == CUPNetSettlement {
			kind = KindSettlement
		}
	case CUPMTIBatchUploadResp:
		switch f60.NetCode {
		case CUPNetUploadEnd:
			kind = KindSettlement
		case CUPNetSettlement:
			kind = KindBatchUpload
		}
	}
	if kind == "" {
		return "", f60, fmt.Errorf("%w: transaction type %q, network code %q of a %s", ErrUnsupported, f60.TxnType, f60.NetCode, mti)
	}
	return kind, f60, nil
}
