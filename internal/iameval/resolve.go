package iameval

import (
	"fmt"
	"strings"
)

// Resolve replaces the CloudFormation intrinsic functions a synthesized
// policy holds with values: {"Ref": name} and {"Fn::GetAtt": [id, attr]}
// (looked up as "id.attr") from values, Fn::Join, and Fn::Sub with ${name}
// placeholders. Anything it cannot resolve is an error, so a policy is
// never evaluated with a placeholder standing in for an ARN.
func Resolve(v any, values map[string]string) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			r, err := Resolve(x[i], values)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				switch k {
				case "Ref":
					name, _ := arg.(string)
					if val, ok := values[name]; ok {
						return val, nil
					}
					return nil, fmt.Errorf("no value for Ref %v", arg)
				case "Fn::GetAtt":
					parts, _ := arg.([]any)
					if len(parts) == 2 {
						if val, ok := values[fmt.Sprint(parts[0])+"."+fmt.Sprint(parts[1])]; ok {
							return val, nil
						}
					}
					return nil, fmt.Errorf("no value for Fn::GetAtt %v", arg)
				case "Fn::Join":
					parts, _ := arg.([]any)
					if len(parts) != 2 {
						return nil, fmt.Errorf("Fn::Join %v: want [separator, list]", arg)
					}
					sep, _ := parts[0].(string)
					list, _ := parts[1].([]any)
					strs := make([]string, len(list))
					for i, p := range list {
						r, err := Resolve(p, values)
						if err != nil {
							return nil, err
						}
						s, ok := r.(string)
						if !ok {
							return nil, fmt.Errorf("Fn::Join part %v is not a string", r)
						}
						strs[i] = s
					}
					return strings.Join(strs, sep), nil
				case "Fn::Sub":
					s, ok := arg.(string)
					if !ok {
						return nil, fmt.Errorf("Fn::Sub %v: only the string form is resolved", arg)
					}
					var b strings.Builder
					for {
						i := strings.Index(s, "${")
						if i < 0 {
							b.WriteString(s)
							return b.String(), nil
						}
						j := strings.Index(s[i:], "}")
						if j < 0 {
							return nil, fmt.Errorf("Fn::Sub %q: unterminated ${", arg)
						}
						name := s[i+2 : i+j]
						val, ok := values[name]
						if !ok {
							return nil, fmt.Errorf("no value for ${%s} in Fn::Sub", name)
						}
						b.WriteString(s[:i] + val)
						s = s[i+j+1:]
					}
				}
				if strings.HasPrefix(k, "Fn::") {
					return nil, fmt.Errorf("intrinsic function %s is not resolved", k)
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			r, err := Resolve(e, values)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}
