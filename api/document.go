package api

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// The request bodies that are not publishes (a disruptor's settings, a
// state, a join) are decoded strictly, in every format: the body is one
// document of its format, UTF-8 throughout; no map at any depth has a key
// twice; the top-level keys are the body's fields exactly as spelled (a
// differently-cased one is named as such); a field tagged wire:"nonzero"
// is not given as 0 (it is left out for the default), and one tagged
// wire:"oneof=a b c" is one of those values exactly. The check walks the
// document through the format's tokenReader, then the format's library
// fills the value. A document holds at most maxDocumentValues values (keys,
// values and elements, at any depth), so that what decoding it costs stays
// a small multiple of its size.

// maxDocumentValues bounds the values of a document.
const maxDocumentValues = 10_000

// body reads and decodes a request body that is not a publish into v, a
// pointer to a wire struct, strictly; it reports false when it answered an
// error.
func (c *call) body(v any) bool {
	f, e := requestFormat(c.r)
	if e != nil {
		c.fail(e)
		return false
	}
	limit := min(c.s.cfg.MaxBodyBytes, documentLimit)
	b, e := c.readBody(f, limit)
	if e == nil {
		e = c.reserve(c.reserved + decodeCost(f, int64(len(b)), limit))
	}
	if e == nil {
		e = decodeDocument(f, b, v)
	}
	if e != nil {
		c.fail(e)
		return false
	}
	return true
}

// decodeDocument decodes body, of format f, into v, a pointer to a wire
// struct.
func decodeDocument(f format, body []byte, v any) *Error {
	spec := specOf(reflect.TypeOf(v).Elem())
	d := getDecoder(decodeLimits{})
	defer d.release()
	r, err := codecs[f].reader(d, body)
	if err != nil {
		return apiError(f, err)
	}
	present, err := checkDocument(r, spec)
	if err != nil {
		return apiError(f, err)
	}
	if err := codecs[f].decode(d, body, v); err != nil {
		return newError(CodeMalformedBody, fmt.Sprintf("the %s body does not decode: %v", f, err),
			map[string]any{"format": f.String()})
	}
	if problems := spec.check(reflect.ValueOf(v).Elem(), present); len(problems) > 0 {
		return newError(CodeValidation, "invalid "+problems[0]["field"].(string)+": "+problems[0]["reason"].(string),
			map[string]any{"errors": problems, "format": f.String()})
	}
	return nil
}

// checkDocument walks the document r reads, refusing what the strict
// rules refuse, and returns the top-level fields given a value other than
// null.
func checkDocument(r tokenReader, spec *docSpec) (map[string]bool, error) {
	if r.kind() == kindEnd {
		return nil, malformed("the request body is empty")
	}
	present := map[string]bool{}
	values := 0
	err := eachKey(r, "the body", func(k []byte) error {
		key := string(k)
		if _, dup := present[key]; dup {
			return malformed("duplicate field %q", key)
		}
		if !slices.Contains(spec.names, key) {
			if i := slices.IndexFunc(spec.names, func(n string) bool { return strings.EqualFold(n, key) }); i >= 0 {
				return malformed("unknown field %q: field names are case-sensitive (%q)", key, spec.names[i])
			}
			return malformed("unknown field %q", key)
		}
		present[key] = r.kind() != kindNull
		if sub := spec.nested[key]; sub != nil && r.kind() == kindMap {
			return checkNested(r, key, sub, &values)
		}
		return walkValue(r, 1, &values)
	})
	if err != nil {
		return nil, err
	}
	return present, r.end()
}

// checkNested checks the map that comes next, the value of the field
// named field whose type is a struct (a retention): its keys are that
// struct's fields, as spelled, each once.
func checkNested(r tokenReader, field string, spec *docSpec, values *int) error {
	*values++
	seen := map[string]struct{}{}
	return eachKey(r, field, func(k []byte) error {
		key := string(k)
		if _, dup := seen[key]; dup {
			return malformed("duplicate key %q in %s", key, field)
		}
		seen[key] = struct{}{}
		if !slices.Contains(spec.names, key) {
			return malformed("unknown field %q in %s (want one of %s)", key, field, strings.Join(spec.names, ", "))
		}
		*values++
		return walkValue(r, 2, values)
	})
}

// walkValue checks the value that comes next: no key twice in a map, and
// values (a running count) within maxDocumentValues.
func walkValue(r tokenReader, depth int, values *int) error {
	if depth > maxNestingDepth {
		return malformed("the document nests more than %d deep", maxNestingDepth)
	}
	count := func() error {
		if *values++; *values > maxDocumentValues {
			return malformed("the document holds more than %d values", maxDocumentValues)
		}
		return nil
	}
	if err := count(); err != nil {
		return err
	}
	switch r.kind() {
	case kindMap:
		seen := map[string]struct{}{}
		return eachKey(r, "a map", func(k []byte) error {
			if _, dup := seen[string(k)]; dup {
				return malformed("duplicate key %q", k)
			}
			seen[string(k)] = struct{}{}
			if err := count(); err != nil {
				return err
			}
			return walkValue(r, depth+1, values)
		})
	case kindArray:
		return eachElem(r, "an array", func() error { return walkValue(r, depth+1, values) })
	}
	return r.skip()
}

// docSpec is what the strict rules know of a body type: its fields' names
// and tags.
type docSpec struct {
	names  []string
	fields []docField
	// nested is the spec of each field whose type is a struct or a
	// pointer to one, by name.
	nested map[string]*docSpec
}

type docField struct {
	index   int
	name    string
	nonzero bool
	oneof   []string
}

var specs sync.Map // reflect.Type → *docSpec

func specOf(t reflect.Type) *docSpec {
	if s, ok := specs.Load(t); ok {
		return s.(*docSpec)
	}
	s := &docSpec{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" || !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		s.names = append(s.names, name)
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() != "time" {
			if s.nested == nil {
				s.nested = map[string]*docSpec{}
			}
			s.nested[name] = specOf(ft)
		}
		f := docField{index: i, name: name}
		for _, rule := range strings.Split(sf.Tag.Get("wire"), ",") {
			switch {
			case rule == "nonzero":
				f.nonzero = true
			case strings.HasPrefix(rule, "oneof="):
				f.oneof = strings.Fields(strings.TrimPrefix(rule, "oneof="))
			}
		}
		if f.nonzero || f.oneof != nil {
			s.fields = append(s.fields, f)
		}
	}
	specs.Store(t, s)
	return s
}

// check returns the problems of the decoded value v, whose given fields
// are present, as the {"field", "value", "reason"} of VALIDATION_FAILED.
func (s *docSpec) check(v reflect.Value, present map[string]bool) []map[string]any {
	var problems []map[string]any
	for _, f := range s.fields {
		if !present[f.name] {
			continue
		}
		fv := v.Field(f.index)
		switch {
		case f.nonzero && fv.IsZero():
			problems = append(problems, map[string]any{"field": f.name, "value": fmt.Sprint(fv.Interface()),
				"reason": "must not be 0 (leave it out for the default)"})
		case f.oneof != nil && fv.Kind() == reflect.String && !slices.Contains(f.oneof, fv.String()):
			problems = append(problems, map[string]any{"field": f.name, "value": fv.String(),
				"reason": "must be one of " + strings.Join(f.oneof, ", ")})
		}
	}
	return problems
}
