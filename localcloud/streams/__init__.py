"""Table streams, locally: DynamoDB global table replication, the table's Kinesis streaming
destination, and Firehose from Kinesis to S3, as the deployed resources configure them.

moto keeps each table's stream but runs none of the three (see FACTS.md). One module per idea:
``shards`` (reading a stream's shards from LATEST), ``records`` (stream records as canonical JSON),
``replication`` (global tables), ``kinesis`` (the table's Kinesis streaming destination),
``firehose`` (Kinesis to S3), and ``service`` (``Streams``: every region's readers, started and
stopped together).
"""
