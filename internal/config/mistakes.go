package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"posd/terminal/risk"
	"posd/terminal/typo"
)

// The config file is written by hand, on site, by an engineer who has the
// README and not the code: decodeError says what is wrong with it in the
// file's own terms (the dotted key, a line and column) instead of
// encoding/json's (Go struct fields and type names).

// decodeError explains an error of decoding the config file b into Config.
func decodeError(b []byte, err error) error {
	var se *json.SyntaxError
	var ue *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF) && len(bytes.TrimSpace(b)) == 0:
		return errors.New("config: the file is empty: it must hold one JSON object ({} for every default)")
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(b, int64(len(b)))
		return fmt.Errorf("config: line %d, column %d: the file ends before the JSON object is closed (a missing } or \")", line, col)
	case errors.As(err, &se):
		line, col := position(b, se.Offset-1)
		return fmt.Errorf("config: line %d, column %d: %w", line, col, err)
	case errors.As(err, &ue):
		if ue.Field == "" {
			return fmt.Errorf("config: the file must hold one JSON object ({...}), not %s", valueWords(ue.Value))
		}
		return fmt.Errorf("config: %s: %s, where %s is expected", ue.Field, valueWords(ue.Value), typeWords(ue.Type))
	}
	if name, ok := unknownField(err); ok {
		return unknownKey(b, reflect.TypeFor[Config](), "", name)
	}
	return fmt.Errorf("config: %w", err)
}

// riskError explains an error of the risk rules over the defaults, raw
// being the file's risk object: a key with its dotted path from "risk.".
// ok is false for the errors risk.ParseRules already words well (the
// checks of the rules' values name their key).
func riskError(raw []byte, err error) (error, bool) {
	var ue *json.UnmarshalTypeError
	if errors.As(err, &ue) && ue.Field != "" {
		return fmt.Errorf("config: risk.%s: %s, where %s is expected", ue.Field, valueWords(ue.Value), typeWords(ue.Type)), true
	}
	if name, ok := unknownField(err); ok {
		return unknownKey(raw, reflect.TypeFor[risk.Rules](), "risk.", name), true
	}
	return nil, false
}

// unknownField returns the key of encoding/json's error for an unknown
// field, also when wrapped in other words.
func unknownField(err error) (string, bool) {
	const says = "json: unknown field "
	msg := err.Error()
	i := strings.Index(msg, says)
	if i < 0 {
		return "", false
	}
	q, qerr := strconv.QuotedPrefix(msg[i+len(says):])
	if qerr != nil {
		return "", false
	}
	name, qerr := strconv.Unquote(q)
	return name, qerr == nil
}

// position returns the line and column (1-based, in characters) of byte
// offset off of b.
func position(b []byte, off int64) (line, col int) {
	off = max(0, min(off, int64(len(b))))
	head := b[:off]
	start := bytes.LastIndexByte(head, '\n') + 1
	return bytes.Count(head, []byte{'\n'}) + 1, utf8.RuneCount(head[start:]) + 1
}

// valueWords names the kind of JSON value encoding/json calls v.
func valueWords(v string) string {
	kind, _, _ := strings.Cut(v, " ")
	switch kind {
	case "number":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "array":
		return "a list [...]"
	case "object":
		return "an object {...}"
	case "null":
		return "null"
	}
	return v
}

// typeWords says what JSON value a key of Go type t takes.
func typeWords(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string in quotes"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list [...]"
	case reflect.Struct, reflect.Map:
		return "an object {...}"
	}
	return t.String()
}

// unknownKey explains the unknown key name of b, an object of type root
// at dotted path top ("" for the file, "risk." for its risk rules): its
// dotted path in the file and the key meant (a known one within two
// edits), or the keys its object takes.
func unknownKey(b []byte, root reflect.Type, top, name string) error {
	var tree any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&tree) != nil {
		return fmt.Errorf("config: unknown key %q", top+name)
	}
	prefix, known, ok := findUnknown(top, tree, root, name)
	if !ok {
		return fmt.Errorf("config: unknown key %q", top+name)
	}
	if best := closest(name, known); best != "" {
		return fmt.Errorf("config: unknown key %q (did you mean %q?)", prefix+name, prefix+best)
	}
	where := "the top level"
	if prefix != "" {
		where = strings.TrimSuffix(prefix, ".")
	}
	return fmt.Errorf("config: unknown key %q: %s takes %s", prefix+name, where, strings.Join(known, ", "))
}

// findUnknown looks in v, decoded into type t, for the key name that t
// does not have; it returns the dotted path of its object ("host.") and
// the keys that object takes.
func findUnknown(prefix string, v any, t reflect.Type, name string) (string, []string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	obj, isObj := v.(map[string]any)
	if !isObj || t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return "", nil, false
	}
	fields := jsonFields(t)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f, ok := fieldFor(fields, k)
		if !ok {
			if k == name {
				known := make([]string, len(fields))
				for i, f := range fields {
					known[i] = f.name
				}
				return prefix, known, true
			}
			continue
		}
		if p, known, ok := findUnknown(prefix+k+".", obj[k], f.typ, name); ok {
			return p, known, true
		}
	}
	return "", nil, false
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists the keys of struct type t, in its order.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type})
	}
	return out
}

// fieldFor finds key k among fields as encoding/json does (an exact name
// first, else one that differs only in case).
func fieldFor(fields []jsonField, k string) (jsonField, bool) {
	for _, f := range fields {
		if f.name == k {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, k) {
			return f, true
		}
	}
	return jsonField{}, false
}

// closest returns the key of known within two edits of name (the nearest,
// the first of equals), or "".
func closest(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := typo.Distance(strings.ToLower(name), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}
