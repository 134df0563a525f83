# Corpus program modelled on yunjey/pytorch-tutorial tutorials/02-intermediate/language_model/
# main.py and data_utils.py (MIT License), https://github.com/yunjey/pytorch-tutorial
# Written for clnet's corpus after the original's structure and torch calls (its text is not
# copied); every difference from the original is marked `# clnet-port:`.
# An LSTM language model with batch_first, states detached between chunks, clip_grad_norm_,
# then sampling words with torch.multinomial.
import os

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils import clip_grad_norm_


class Dictionary(object):
    def __init__(self):
        self.word2idx = {}
        self.idx2word = {}
        self.idx = 0

    def add_word(self, word):
        if word not in self.word2idx:
            self.word2idx[word] = self.idx
            self.idx2word[self.idx] = word
            self.idx += 1

    def __len__(self):
        return len(self.word2idx)


class Corpus(object):
    def __init__(self):
        self.dictionary = Dictionary()

    def get_data(self, path, batch_size=20):
        with open(path, 'r') as f:
            tokens = 0
            for line in f:
                words = line.split() + ['<eos>']
                tokens += len(words)
                for word in words:
                    self.dictionary.add_word(word)
        ids = torch.LongTensor(tokens)
        token = 0
        with open(path, 'r') as f:
            for line in f:
                words = line.split() + ['<eos>']
                for word in words:
                    ids[token] = self.dictionary.word2idx[word]
                    token += 1
        num_batches = ids.size(0) // batch_size
        ids = ids[:num_batches*batch_size]
        return ids.view(batch_size, -1)


device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
embed_size = 32  # clnet-port: 32, not 128
hidden_size = 64  # clnet-port: 64, not 1024
num_layers = 1
num_epochs = 3  # clnet-port: 3, not 5
num_samples = 50  # clnet-port: 50, not 1000
batch_size = 10  # clnet-port: 10, not 20
seq_length = 20  # clnet-port: 20, not 30
learning_rate = 0.002

torch.manual_seed(0)  # clnet-port: seeded
corpus = Corpus()
# clnet-port: the word_language_model corpus shipped here, not Penn Treebank
HERE = os.path.dirname(os.path.abspath(__file__))
ids = corpus.get_data(os.path.join(HERE, 'word_language_model', 'data', 'train.txt'), batch_size)
vocab_size = len(corpus.dictionary)
num_batches = ids.size(1) // seq_length


class RNNLM(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers):
        super(RNNLM, self).__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, h):
        x = self.embed(x)
        out, (h, c) = self.lstm(x, h)
        out = out.reshape(out.size(0)*out.size(1), out.size(2))
        out = self.linear(out)
        return out, (h, c)


model = RNNLM(vocab_size, embed_size, hidden_size, num_layers).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)


def detach(states):
    return [state.detach() for state in states]


losses = []  # clnet-port: kept for the outcome check
for epoch in range(num_epochs):
    states = (torch.zeros(num_layers, batch_size, hidden_size).to(device),
              torch.zeros(num_layers, batch_size, hidden_size).to(device))
    for i in range(0, ids.size(1) - seq_length, seq_length):
        inputs = ids[:, i:i+seq_length].to(device)
        targets = ids[:, (i+1):(i+1)+seq_length].to(device)
        states = detach(states)
        outputs, states = model(inputs, states)
        loss = criterion(outputs, targets.reshape(-1))
        model.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        losses.append(loss.item())
        step = (i+1) // seq_length
        if step % 20 == 0:
            print('Epoch [{}/{}], Step[{}/{}], Loss: {:.4f}, Perplexity: {:5.2f}'
                  .format(epoch+1, num_epochs, step, num_batches, loss.item(),
                          np.exp(loss.item())))

words = []  # clnet-port: the samples are kept in a list, not written to sample.txt
with torch.no_grad():
    state = (torch.zeros(num_layers, 1, hidden_size).to(device),
             torch.zeros(num_layers, 1, hidden_size).to(device))
    prob = torch.ones(vocab_size)
    input = torch.multinomial(prob, num_samples=1).unsqueeze(1).to(device)
    for i in range(num_samples):
        output, state = model(input, state)
        prob = output.exp()
        word_id = torch.multinomial(prob, num_samples=1).item()
        input.fill_(word_id)
        word = corpus.dictionary.idx2word[word_id]
        words.append('\n' if word == '<eos>' else word)
print(' '.join(words))
# clnet-port: outcome check: the loss falls well below ln(vocab) and samples are real words
assert np.mean(losses[-10:]) < 0.7 * np.log(vocab_size), (np.mean(losses[-10:]), vocab_size)
assert len(words) == num_samples
