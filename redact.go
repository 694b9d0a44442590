package ngbak

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"unicode"
)

// Redacted replaces every secret in the configuration recorded in a manifest.
const Redacted = "[REDACTED]"

// secretWords are the words of a key's name that mark it as secret. Names
// are cut into words at anything but letters and digits and at camelCase
// humps, and compared in lower case word by word: "neo4j_password",
// "qdrantApiKey", "X-Api-Key", "GITHUB_TOKEN" and "NEO4J_AUTH" match;
// "max_tokens", "tokenizer", "max_token_size", "author" and
// "key_string_value_json_storage_cls" do not.
var secretWords = map[string]bool{
	"password": true, "passwd": true, "pwd": true, "passphrase": true, "secret": true, "secrets": true,
	"credential": true, "credentials": true, "authorization": true,
	"bearer": true, "apikey": true, "privatekey": true, "accesskey": true, "secretkey": true, "cookie": true,
}

// lastSecretWords are secret as the last word of a name only: a token or
// auth is the thing named (GITHUB_TOKEN, access_token, NEO4J_AUTH), while
// before other words they are a unit or a kind (max_token_size,
// community_report_token_budget_ratio, auth_type).
var lastSecretWords = map[string]bool{"token": true, "auth": true}

// keyQualifiers make "key" secret when they come before it: api_key,
// encryption_key, AWS_SECRET_ACCESS_KEY. A key alone names too many other
// things (a sort key, a key prefix) to be taken for a secret.
var keyQualifiers = map[string]bool{
	"api": true, "access": true, "secret": true, "private": true, "encryption": true, "signing": true,
	"master": true, "client": true, "auth": true, "license": true, "account": true, "session": true, "service": true,
}

// nameWords cuts a name into lower-case words.
func nameWords(name string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
			continue
		case unicode.IsUpper(r) && i > 0 && len(cur) > 0:
			prev := rs[i-1]
			// fooBar, and the last capital of an acronym before a word: APIKey.
			if unicode.IsLower(prev) || unicode.IsDigit(prev) && !strings.EqualFold(string(cur), "neo4j") ||
				unicode.IsUpper(prev) && i+1 < len(rs) && unicode.IsLower(rs[i+1]) {
				flush()
			}
		}
		cur = append(cur, r)
	}
	flush()
	return words
}

func secretName(name string) bool {
	words := nameWords(name)
	for i, w := range words {
		if secretWords[w] || lastSecretWords[w] && i == len(words)-1 {
			return true
		}
		if w == "key" && i > 0 && keyQualifiers[words[i-1]] {
			return true
		}
	}
	return false
}

// redactConfig turns an application's configuration into JSON with every
// secret replaced by Redacted: struct fields tagged `ngbak:"secret"`, keys and
// fields whose names hold a secret word (see secretWords), and secrets inside
// string values (see redactString: "redis://:pw@host" becomes
// "redis://:xxxxx@host"). Structs follow encoding/json's field names and
// tags.
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
		return redactString(v.String()), nil
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
		return redactString(v)
	}
	return v
}

// redactString hides what a string value shows of a secret: the password
// of a URL, a token given as a URL's user, the values of secret query
// parameters; the value of a "Name: value" or "Name=value" line whose name
// is secret (a header, an environment variable); the credentials after
// "Bearer" or "Basic".
func redactString(s string) string {
	if strings.Contains(s, "://") {
		return redactURL(s)
	}
	if m := assignment.FindStringSubmatch(s); m != nil && secretName(m[1]) {
		return m[1] + m[2] + Redacted
	}
	if m := authScheme.FindStringSubmatch(s); m != nil {
		return m[1] + Redacted
	}
	return s
}

var (
	assignment = regexp.MustCompile(`^\s*([A-Za-z][A-Za-z0-9_.-]*)(\s*[:=]\s*)\S`)
	authScheme = regexp.MustCompile(`^(?i)(\s*(?:bearer|basic|token)\s+)\S+\s*$`)
)

// urlMask is what replaces a secret inside a URL: it needs no escaping,
// so the URL stays readable. net/url's Redacted uses it for passwords.
const urlMask = "xxxxx"

// redactURL hides a URL's password, its user when there is no password
// (often a token: https://TOKEN@host), and the values of query parameters
// with secret names (?api_key=...).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return s
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), urlMask)
		} else {
			u.User = url.User(urlMask)
		}
		changed = true
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			if secretName(k) {
				for i := range vs {
					vs[i] = urlMask
				}
				changed = true
			}
		}
		if changed {
			u.RawQuery = encodeQueryInOrder(u.RawQuery, q)
		}
	}
	if !changed {
		return s
	}
	return u.String()
}

// encodeQueryInOrder writes q in the order of the parameters in raw, which
// url.Values.Encode would sort.
func encodeQueryInOrder(raw string, q url.Values) string {
	var b strings.Builder
	seen := map[string]int{}
	for _, part := range strings.Split(raw, "&") {
		k, _, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			key = k
		}
		vs := q[key]
		i := seen[key]
		seen[key]++
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(key))
		if i < len(vs) {
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(vs[i]))
		}
	}
	return b.String()
}
