"""Runs one of Paho's interoperability test modules against a broker at 127.0.0.1:PORT.

Usage: python3 run.py client_test|client_test5 PORT

Paho's modules read their settings from globals that their own __main__ block sets from the
command line, then hand sys.argv to unittest (which refuses the broker options); this sets the
same globals and runs the tests. Prints one line per test as `RESULT name` (PASS, FAIL or
ERROR), then `N passed, N failed`.
"""
import importlib
import logging
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'interoperability'))
module = importlib.import_module(sys.argv[1])
module.host = '127.0.0.1'
module.port = int(sys.argv[2])
module.topic_prefix = ''
module.topics = ('TopicA', 'TopicA/B', 'Topic/C', 'TopicA/C', '/TopicA')
module.wildtopics = ('TopicA/+', '+/C', '#', '/#', '/+', '+/+', 'TopicA/#')
module.nosubscribe_topics = ('test/nosubscribe',)
logging.getLogger().setLevel(logging.CRITICAL)


class Lines(unittest.TextTestResult):
    def addSuccess(self, test):
        super().addSuccess(test)
        print('PASS', test.id(), flush=True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        print('FAIL', test.id(), flush=True)

    def addError(self, test, err):
        super().addError(test, err)
        print('ERROR', test.id(), flush=True)


suite = unittest.defaultTestLoader.loadTestsFromModule(module)
with open(os.devnull, 'w') as quiet:
    result = unittest.TextTestRunner(stream=quiet, resultclass=Lines).run(suite)
failed = len(result.failures) + len(result.errors)
print(f'{result.testsRun - failed} passed, {failed} failed', flush=True)
