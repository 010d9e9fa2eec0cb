package plan

import (
	"bytes"
	"errors"

	"go.yaml.in/yaml/v3"
)

// filterTargets keeps only the named items of the top-level targets list.
// Working on the node tree rather than re-encoding a Config keeps every
// other key, the defaults and most comments exactly as the user wrote them.
func filterTargets(source []byte, names []string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(source, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the config is not a YAML mapping")
	}
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	root := doc.Content[0]
	found := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "targets" {
			continue
		}
		list := root.Content[i+1]
		if list.Kind != yaml.SequenceNode {
			return nil, errors.New("targets is not a list")
		}
		var kept []*yaml.Node
		for _, item := range list.Content {
			if keep[targetName(item)] {
				kept = append(kept, item)
			}
		}
		list.Content = kept
		found = true
	}
	if !found {
		return nil, errors.New("the config has no targets key")
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func targetName(item *yaml.Node) string {
	if item.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		if item.Content[i].Value == "name" {
			return item.Content[i+1].Value
		}
	}
	return ""
}
