"""One metrics namespace for every transform, so dashboards and tests find them in one place."""
NAMESPACE = 'millionx'
