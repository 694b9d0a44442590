package ngbak

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
)

// Redacted replaces every secret in the configuration recorded in a manifest.
const Redacted = "[REDACTED]"

// secretWords are the parts of a key's name that mark it as secret. Keys are
// compared in lower case with '_' and '-' removed, so "neo4j_password",
// "qdrantApiKey" and "X-Api-Key" all match.
var secretWords = []string{"password", "passwd", "secret", "token", "apikey", "credential", "privatekey"}

func secretName(name string) bool {
	n := strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(name))
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// redactConfig turns an application's configuration into JSON with every
// secret replaced by Redacted: struct fields tagged `ngbak:"secret"`, keys and
// fields whose names look secret (see secretWords), and passwords inside URLs
// ("redis://:pw@host" becomes "redis://:xxxxx@host"). Structs follow
// encoding/json's field names and tags.
func redactConfig(cfg any) (json.RawMessage, error) {
	if cfg == nil {
		return nil, nil
	}
	tree, err := redactValue(reflect.ValueOf(cfg))
	if err != nil {
		return nil, fmt.Errorf("ngbak: recording the app config: %w", err)
	}
	return json.Marshal(tree)
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

func redactValue(v reflect.Value) (any, error) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil, nil
		}
		if v.Type().Implements(jsonMarshaler) || v.Type().Implements(textMarshaler) {
			break
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return nil, nil
	}
	t := v.Type()
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) {
		return redactLeaf(v)
	}
	switch v.Kind() {
	case reflect.Struct:
		out := map[string]any{}
		if err := redactStruct(v, out); err != nil {
			return nil, err
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		out := map[string]any{}
		iter := v.MapRange()
		for iter.Next() {
			k := fmt.Sprint(iter.Key().Interface())
			if secretName(k) {
				out[k] = Redacted
				continue
			}
			val, err := redactValue(iter.Value())
			if err != nil {
				return nil, err
			}
			out[k] = val
		}
		return out, nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && (v.IsNil() || t.Elem().Kind() == reflect.Uint8) {
			return redactLeaf(v)
		}
		out := make([]any, v.Len())
		for i := range out {
			val, err := redactValue(v.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = val
		}
		return out, nil
	case reflect.String:
		return redactURL(v.String()), nil
	}
	return redactLeaf(v)
}

func redactStruct(v reflect.Value, out map[string]any) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if f.Anonymous && name == "" {
			for fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					break
				}
				fv = fv.Elem()
			}
			if fv.Kind() == reflect.Struct {
				if err := redactStruct(fv, out); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.Contains(","+opts+",", ",omitempty,") && fv.IsZero() {
			continue
		}
		if f.Tag.Get("ngbak") == "secret" || secretName(name) {
			out[name] = Redacted
			continue
		}
		val, err := redactValue(fv)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		out[name] = val
	}
	return nil
}

// redactLeaf lets encoding/json encode a value, then redacts what it made.
func redactLeaf(v reflect.Value) (any, error) {
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	return redactTree(tree), nil
}

func redactTree(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			if secretName(k) {
				v[k] = Redacted
			} else {
				v[k] = redactTree(val)
			}
		}
	case []any:
		for i := range v {
			v[i] = redactTree(v[i])
		}
	case string:
		return redactURL(v)
	}
	return v
}

// redactURL hides the password of a URL with user information.
func redactURL(s string) string {
	if !strings.Contains(s, "://") || !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); !has {
		return s
	}
	return u.Redacted()
}
