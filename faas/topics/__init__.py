"""Topics: SNS's publish/subscribe on Redis.

- ``arns``: topic and subscription ARNs, names (pure);
- ``messages``: a published message and its attributes, checked (pure);
- ``filters``: subscription filter policies (pure);
- ``envelope``: what a subscriber receives: the Lambda record, the SQS body (pure);
- ``records``: topics and subscriptions as plain data, their attributes checked (pure);
- ``store``: topics and subscriptions in Redis (``faas.keys``);
- ``fanout``: Publish: each matching subscription's delivery, carried out;
- ``topics``: what the API does to them, the parts above put together.
"""
