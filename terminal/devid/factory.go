package devid

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"time"
)

// MaxChainPEM bounds a factory's answer.
const MaxChainPEM = 64 << 10

// Doer sends an HTTP request (*http.Client).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// HTTPFactory is a Factory reached over HTTP: the certificate request is
// posted as DER (application/pkcs10), the chain comes back as PEM
// certificates, device first (application/pem-certificate-chain). The
// simulated board's factory step uses tms-sim's test factory
// (cmd/tms-sim/kdh, FactoryPath) this way; TEST ONLY, like its CA.
type HTTPFactory struct {
	URL  string // the factory endpoint
	HTTP Doer   // nil: an http.Client with a 30 s timeout
}

// Certify implements Factory.
func (f HTTPFactory) Certify(ctx context.Context, csr []byte) ([][]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL, bytes.NewReader(csr))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/pkcs10")
	doer := f.HTTP
	if doer == nil {
		doer = &http.Client{Timeout: 30 * time.Second}
	}
	res, err := doer.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxChainPEM+1))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the factory answered %d", res.StatusCode)
	}
	return ParseChainPEM(body)
}

// ParseChainPEM reads 1 to 4 PEM "CERTIFICATE" blocks (nothing else, at
// most MaxChainPEM bytes) and returns their DER. It does not parse the
// certificates; Provision does. Errors: ErrFactory.
func ParseChainPEM(b []byte) ([][]byte, error) {
	if len(b) > MaxChainPEM {
		return nil, fmt.Errorf("%w: an answer of %d bytes", ErrFactory, len(b))
	}
	var out [][]byte
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" || len(blk.Headers) != 0 {
			return nil, fmt.Errorf("%w: a PEM block of type %q", ErrFactory, blk.Type)
		}
		if len(out) == 4 {
			return nil, fmt.Errorf("%w: more than 4 certificates", ErrFactory)
		}
		out = append(out, blk.Bytes)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data that is not PEM", ErrFactory)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no certificate", ErrFactory)
	}
	return out, nil
}
