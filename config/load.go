package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"

	"github.com/badbatch/badbatch/internal/suggest"
)

// EnvPrefix starts every environment variable the configuration reads.
const EnvPrefix = "BADBATCH_"

// Source says where to load from. Each layer overrides the ones before:
// defaults, File, Env, Flags.
type Source struct {
	// File is a YAML or JSON file; empty for none.
	File string
	// Data, when not nil, is the file's content: File is then only its
	// name in messages.
	Data []byte
	// Env is the environment as KEY=value strings; nil means os.Environ().
	Env []string
	// Flags maps keys (e.g. "server.bind_addr") to values set on the
	// command line. Only flags the user set belong here.
	Flags map[string]any
}

// Load reads the configuration from src and validates it. Errors about
// content wrap [ErrInvalid] and hold a [*KeyError] per problem.
func Load(src Source) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(toMap(Default()), "."), nil); err != nil {
		return Config{}, fmt.Errorf("config: defaults: %w", err)
	}
	var errs keyErrors
	if src.File != "" || src.Data != nil {
		data := src.Data
		if data == nil {
			var err error
			if data, err = os.ReadFile(src.File); err != nil {
				return Config{}, fmt.Errorf("config: %w", err)
			}
		}
		fileErrs, err := mergeFile(k, data)
		if err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", src.File, err)
		}
		errs = append(errs, fileErrs...)
	}
	env := src.Env
	if env == nil {
		env = os.Environ()
	}
	if err := k.Load(confmap.Provider(envValues(env), "."), nil); err != nil {
		return Config{}, fmt.Errorf("config: environment: %w", err)
	}
	if len(src.Flags) > 0 {
		if err := k.Load(confmap.Provider(src.Flags, "."), nil); err != nil {
			return Config{}, fmt.Errorf("config: flags: %w", err)
		}
	}
	if len(errs) > 0 { // unknown keys: decoding would only add noise
		return Config{}, errs.err()
	}
	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{DecoderConfig: decoderConfig(&c)}); err != nil {
		return Config{}, decodeErrors(err).err()
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Parse loads a configuration from file contents alone (defaults, then
// data; no environment), for `config validate` and tests.
func Parse(data []byte) (Config, error) {
	if data == nil {
		data = []byte{}
	}
	return Load(Source{File: "config", Data: data, Env: []string{}})
}

// mergeFile parses data and merges it into k, returning a KeyError for
// every key the configuration does not have.
func mergeFile(k *koanf.Koanf, data []byte) (keyErrors, error) {
	kf := koanf.New(".")
	if len(strings.TrimSpace(string(data))) > 0 {
		m, err := yaml.Parser().Unmarshal(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if err := kf.Load(confmap.Provider(m, ""), nil); err != nil {
			return nil, err
		}
	}
	known := knownKeys()
	var errs keyErrors
	for _, key := range kf.Keys() {
		if _, ok := known[key]; !ok {
			errs.add(key, nil, "unknown key%s", hint(key, known))
		}
	}
	for list, t := range known { // lists of mappings: disruptor.disruptors, security.api_keys, ...
		if t.Kind() != reflect.Slice || t.Elem().Kind() != reflect.Struct {
			continue
		}
		items, ok := kf.Get(list).([]any)
		if !ok {
			continue
		}
		itemKeys := fieldKeys(t.Elem(), "")
		for i, item := range items {
			m, ok := item.(map[string]any)
			if !ok {
				errs.add(fmt.Sprintf("%s[%d]", list, i), item, "must be a mapping")
				continue
			}
			for key, v := range m {
				if sub, ok := v.(map[string]any); ok && itemKeys[key] == nil { // a section: retention
					for sk := range sub {
						if _, ok := itemKeys[key+"."+sk]; !ok {
							errs.add(fmt.Sprintf("%s[%d].%s.%s", list, i, key, sk), nil, "unknown key%s", hint(key+"."+sk, itemKeys))
						}
					}
					continue
				}
				if _, ok := itemKeys[key]; !ok {
					errs.add(fmt.Sprintf("%s[%d].%s", list, i, key), nil, "unknown key%s", hint(key, itemKeys))
				}
			}
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs, k.Merge(kf)
}

// knownKeys maps every key of Config to its Go type.
func knownKeys() map[string]reflect.Type { return fieldKeys(reflect.TypeFor[Config](), "") }

func fieldKeys(t reflect.Type, prefix string) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("koanf")
		if key == "" {
			continue
		}
		if prefix != "" {
			key = prefix + "." + key
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
			for k, v := range fieldKeys(f.Type, key) {
				out[k] = v
			}
			continue
		}
		out[key] = f.Type
	}
	return out
}

// hint suggests the closest known key, if one is close.
func hint(key string, known map[string]reflect.Type) string {
	return suggest.Hint(key, maps.Keys(known), 4)
}

// EnvName is the environment variable of key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// envValues picks the variables of known keys out of env. Lists are
// comma-separated, except lists of mappings (security.api_keys), which
// are YAML or JSON (`[{name: ci, role: reader, ...}]`); disruptor.disruptors
// comes from the file only.
func envValues(env []string) map[string]any {
	byName := map[string]string{}
	for key, t := range knownKeys() {
		if !fromEnv(key, t) {
			continue
		}
		byName[EnvName(key)] = key
	}
	out := map[string]any{}
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		key, ok := byName[name]
		if !ok {
			continue
		}
		if t := knownKeys()[key]; t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			// A value that does not parse is kept as a string, for the
			// decoder to report under the key.
			if items, err := yaml.Parser().Unmarshal([]byte(`list: ` + value)); err == nil {
				out[key] = items["list"]
			} else {
				out[key] = value
			}
			continue
		}
		if knownKeys()[key].Kind() == reflect.Slice {
			var items []string
			for item := range strings.SplitSeq(value, ",") {
				if item = strings.TrimSpace(item); item != "" {
					items = append(items, item)
				}
			}
			out[key] = items
			continue
		}
		out[key] = value
	}
	return out
}

// EnvNames lists the environment variables the configuration reads.
func EnvNames() []string {
	var names []string
	for key, t := range knownKeys() {
		if !fromEnv(key, t) {
			continue
		}
		names = append(names, EnvName(key))
	}
	slices.Sort(names)
	return names
}

// fromEnv reports whether key may be set from the environment: every key
// but the declared disruptors.
func fromEnv(key string, t reflect.Type) bool {
	return t.Kind() != reflect.Slice || t.Elem().Kind() != reflect.Struct || strings.HasPrefix(key, "security.")
}

func decoderConfig(out *Config) *mapstructure.DecoderConfig {
	return &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		Result:           out,
		TagName:          "koanf",
	}
}

// decodeErrors turns mapstructure's errors (a wrong type for a key) into
// KeyErrors.
func decodeErrors(err error) keyErrors {
	var errs keyErrors
	var walk func(error)
	walk = func(e error) {
		var de *mapstructure.DecodeError
		if errors.As(e, &de) && !isJoin(e) {
			errs.add(de.Name(), nil, "%v", de.Unwrap())
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if x := errors.Unwrap(e); x != nil {
			walk(x)
			return
		}
		errs.add("config", nil, "%v", e)
	}
	walk(err)
	return errs
}

func isJoin(e error) bool {
	_, ok := e.(interface{ Unwrap() []error })
	return ok
}

// toMap flattens c into key → value, for the defaults layer.
func toMap(c Config) map[string]any {
	out := map[string]any{}
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			key := f.Tag.Get("koanf")
			if key == "" {
				continue
			}
			if prefix != "" {
				key = prefix + "." + key
			}
			fv := v.Field(i)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
				walk(fv, key)
				continue
			}
			out[key] = fv.Interface()
		}
	}
	walk(reflect.ValueOf(c), "")
	return out
}
