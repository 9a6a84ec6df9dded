package store

import (
	"bytes"
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// A firmware that is rolled back (a trial that failed its health check)
// runs again on a file a newer firmware wrote. A migration that only adds
// record fields keeps the file readable to older builds (migration.compat),
// but an older build that rewrote such a record would drop what it does
// not know: a refunded total, say, lost by a void. Rewrites therefore keep
// the fields of the stored record this build does not know, at any depth
// of its objects, and write them back with the new values. So do the
// outbox's jobs.

// putKeeping stores r at seq like put, keeping the fields of old (the
// record as stored) that this build's Txn does not have; known is old as
// this build encodes it (Update decoded it already). A known field r
// clears stays cleared; an unknown field inside an object r removes goes
// with it.
func putKeeping(b *bolt.Bucket, seq uint64, r *Txn, old, known []byte) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put(key(seq), keepFields(v, old, known))
}

// encodeKeeping encodes v with the fields of old (v's stored form) that
// T does not have, decoding old to learn which.
func encodeKeeping[T any](v *T, old []byte) ([]byte, error) {
	out, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var t T
	if old == nil || json.Unmarshal(old, &t) != nil {
		return out, nil
	}
	known, err := json.Marshal(&t)
	if err != nil {
		return out, nil
	}
	return keepFields(out, old, known), nil
}

// keepFields adds to v the fields of old, a stored value, that known (old
// as this build encodes it) lacks. v is returned as it is when there are
// none (every value this build wrote) or old does not decode.
func keepFields(v, old, known []byte) []byte {
	if bytes.Equal(known, old) {
		return v
	}
	var was, now map[string]any
	if !decodeObject(old, &was) || !decodeObject(known, &now) {
		return v
	}
	extra := missing(was, now)
	if extra == nil {
		return v
	}
	if merged, ok := mergeFields(v, extra); ok {
		return merged
	}
	return v
}

// decodeObject decodes a JSON object keeping numbers exact.
func decodeObject(b []byte, into *map[string]any) bool {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(into) == nil
}

// missing returns the keys of was that now lacks, and for keys whose
// values are objects in both, what of the inner object now lacks (marked
// as partial: nestedFields).
func missing(was, now map[string]any) map[string]any {
	var out map[string]any
	add := func(k string, v any) {
		if out == nil {
			out = map[string]any{}
		}
		out[k] = v
	}
	for k, v := range was {
		n, ok := now[k]
		if !ok {
			add(k, v)
			continue
		}
		wo, wok := v.(map[string]any)
		no, nok := n.(map[string]any)
		if wok && nok {
			if inner := missing(wo, no); inner != nil {
				add(k, nestedFields(inner))
			}
		}
	}
	return out
}

// nestedFields are the unknown fields inside a known object.
type nestedFields map[string]any

// mergeFields adds extra to the encoded record v: a whole field where v has
// none, the inner fields of an object v still has. False when v does not
// decode (it is then stored as it is).
func mergeFields(v []byte, extra map[string]any) ([]byte, bool) {
	var rec map[string]any
	if !decodeObject(v, &rec) {
		return nil, false
	}
	mergeInto(rec, extra)
	out, err := json.Marshal(rec)
	return out, err == nil
}

func mergeInto(rec, extra map[string]any) {
	for k, v := range extra {
		cur, has := rec[k]
		if inner, ok := v.(nestedFields); ok {
			if obj, ok := cur.(map[string]any); has && ok {
				mergeInto(obj, inner)
			}
			continue
		}
		if !has {
			rec[k] = v
		}
	}
}
