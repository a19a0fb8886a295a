-- What a server says about itself; a proxy or another address does not change any of these.
SELECT @@version, @@server_id, @@hostname, @@port, @@datadir
