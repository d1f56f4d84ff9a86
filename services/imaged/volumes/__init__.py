"""Docker's volumes, local driver: records in etcd, data under <data-root>/volumes/."""
