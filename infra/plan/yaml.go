package plan

import (
	"bytes"
	"errors"

	"go.yaml.in/yaml/v3"
)

// document is the config's YAML node tree, parsed once so that writing
// each lane's subset costs the lane's size, not the whole file's. Working
// on nodes rather than re-encoding a Config keeps every other key, the
// defaults and most comments exactly as the user wrote them.
type document struct {
	doc, root *yaml.Node
	// targets is the index in root.Content of the targets: list.
	targets int
	byName  map[string]*yaml.Node
}

func parseDocument(source []byte) (*document, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(source, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the config is not a YAML mapping")
	}
	d := &document{doc: &doc, root: doc.Content[0], targets: -1, byName: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(d.root.Content); i += 2 {
		if d.root.Content[i].Value == "targets" {
			d.targets = i + 1
		}
	}
	if d.targets < 0 || d.root.Content[d.targets].Kind != yaml.SequenceNode {
		return nil, errors.New("the config has no targets list")
	}
	for _, item := range d.root.Content[d.targets].Content {
		d.byName[targetName(item)] = item
	}
	return d, nil
}

// subset renders the document with only the named targets, in the order
// given, leaving the parsed tree untouched for the next lane.
func (d *document) subset(names []string) ([]byte, error) {
	list := *d.root.Content[d.targets]
	list.Content = nil
	for _, n := range names {
		item, ok := d.byName[n]
		if !ok {
			return nil, errors.New("target " + n + " is not in the file")
		}
		list.Content = append(list.Content, item)
	}
	root := *d.root
	root.Content = append([]*yaml.Node(nil), d.root.Content...)
	root.Content[d.targets] = &list
	doc := *d.doc
	doc.Content = []*yaml.Node{&root}

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
