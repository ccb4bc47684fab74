"""Remaining useful life on the stream (``jobs/score_live.py``): the champion ``tool_rul`` scores
every tool that is cutting, micro-batch by micro-batch, and warns before it wears out.

* :mod:`.frames` - pure pandas (no Spark): predictions from the shared features, the live rows,
  which alerts are due, their deterministic ids and their tool-alert/v1 messages, live accuracy;
* :mod:`.alerts` - the Kafka edge: publish pending alerts, find the ones a crash left unmarked;
* :mod:`.scorer` - the Spark edge: the Delta streams, the ``foreachBatch`` function, the tables.
"""
