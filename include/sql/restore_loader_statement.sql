-- What a single-stream restore is loading right now: the schema and the head of its INSERT.
-- LEFT() keeps the server from copying a megabyte-long statement for every poll.
SELECT DB AS db, LEFT(INFO, 300) AS head
FROM information_schema.PROCESSLIST
WHERE COMMAND = 'Query' AND ID <> CONNECTION_ID() AND INFO LIKE 'INSERT INTO %%'
