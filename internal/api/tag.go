package api

// String renders a tag as AWS does in validation messages: Tag(key=k, value=v).
func (t Tag) String() string {
	return "Tag(key=" + deref(t.Key) + ", value=" + deref(t.Value) + ")"
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}
